"""An S3-compatible server for tests: moto's, on loopback, started and stopped by the test.

    with S3Server.start() as s3:
        s3.endpoint                   # http://127.0.0.1:PORT
        s3.client().create_bucket(Bucket="lake")
        s3.environment()              # AWS_* variables for a subprocess (the Barman Cloud tools)

moto keeps its state per process; `start` resets it, so each block begins with no bucket.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import boto3
import httpx
from moto.server import ThreadedMotoServer

from tests.support.postgres import free_port

REGION = "us-east-1"
ACCESS_KEY_ID = "test-access-key"
SECRET_ACCESS_KEY = "test-secret-key"


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    @classmethod
    @contextmanager
    def start(cls) -> Iterator[S3Server]:
        port = free_port()
        # The server's request log would fill the test's output.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        s3 = cls(f"http://127.0.0.1:{port}")
        try:
            httpx.post(f"{s3.endpoint}/moto-api/reset", timeout=10).raise_for_status()
            yield s3
        finally:
            server.stop()

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY_ID,
                            aws_secret_access_key=SECRET_ACCESS_KEY)

    def environment(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
                "AWS_DEFAULT_REGION": REGION}

    def versioned_bucket(self, name: str) -> str:
        client = self.client()
        client.create_bucket(Bucket=name)
        client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name
