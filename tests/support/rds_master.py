"""A stand-in for the RDS instance the master's first login meets: a real PostgreSQL over TLS (the test CA's
certificate for 127.0.0.1, so `verify-full` holds) with RDS's own roles, and the RDS-managed master secret in moto's
Secrets Manager.

    with RdsMaster.start(pki, region="eu-west-1") as rds:
        rds.host, rds.port, rds.user, rds.secret_arn, rds.ca_file
        rds.is_iam_login()                 # the master is a member of rds_iam
        rds.revoke()                       # as another client would

RDS creates `rds_iam` and `rds_superuser`; its master user is a member of `rds_superuser`, not of `rds_iam`, and
has CREATEROLE and CREATEDB, with which (PostgreSQL 15) it grants itself `rds_iam` (our reading of the RDS User
Guide, "Database authentication with Amazon RDS" and "Master user account privileges").

RDS's rule for the master's login is kept in pg_hba.conf: a member of rds_iam logs in with an IAM token, any other
user with its password. The stand-in cannot check AWS's signature on a token, so it admits a member of rds_iam with
any credential (`trust` for `+rds_iam`); a user outside rds_iam needs the password (scram-sha-256), so a token is
refused there as RDS refuses it, as a failed password.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tests.support.postgres import PostgresServer, tls_settings
from tests.support.tls import TestPki

MASTER_PASSWORD = "rds-managed-master-password"


@dataclass
class RdsMaster:
    server: PostgresServer
    user: str
    secret_arn: str
    region: str
    ca_file: str
    secrets: Any  # moto's Secrets Manager client

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    def is_iam_login(self) -> bool:
        return self.server.psql(f"SELECT pg_has_role('{self.user}', 'rds_iam', 'MEMBER')") == "t"

    def revoke(self) -> None:
        self.server.psql(f'REVOKE rds_iam FROM "{self.user}"')

    def rotate(self, password: str) -> None:
        """A new password in the secret only (the server keeps the old one): a login with it fails."""
        self.secrets.put_secret_value(SecretId=self.secret_arn,
                                      SecretString=json.dumps({"username": self.user, "password": password}))

    @classmethod
    @contextlib.contextmanager
    def start(cls, pki: TestPki, user: str = "dpadmin", region: str = "eu-west-1") -> Iterator[RdsMaster]:
        import boto3
        from moto import mock_aws

        with tls_settings(pki) as (settings, folder):
            (folder / "ca.pem").write_text(pki.ca_pem)
            (folder / "ca.pem").chmod(0o644)
            with PostgresServer.start(settings) as server, mock_aws():
                server.psql(f"CREATE ROLE rds_iam NOLOGIN; CREATE ROLE rds_superuser NOLOGIN; CREATE ROLE \"{user}\" "
                            f"LOGIN CREATEROLE CREATEDB PASSWORD '{MASTER_PASSWORD}' IN ROLE rds_superuser")
                hba = server.data_dir / "pg_hba.conf"
                hba.write_text(f"hostssl all +rds_iam 127.0.0.1/32 trust\n"
                               f"hostssl all {user} 127.0.0.1/32 scram-sha-256\n"
                               f"host all {user} 127.0.0.1/32 reject\n" + hba.read_text())
                server.psql("SELECT pg_reload_conf()")
                secrets = boto3.client("secretsmanager", region_name=region)
                arn = secrets.create_secret(Name="rds!db-0000", SecretString=json.dumps(
                    {"username": user, "password": MASTER_PASSWORD}))["ARN"]
                yield cls(server, user, arn, region, str(folder / "ca.pem"), secrets)
