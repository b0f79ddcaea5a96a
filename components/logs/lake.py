"""The log shipper's way into the lake's `logs` layer: its put-only identity, where it writes, and how the Fluent Bit
pods get their credentials. Pure data and one Secret; components/logs/shipping.py renders the `s3` output itself,
components/platform.py wires them.

- Layout: `<bucket>/shipper/service=<service>/dt=YYYY-MM-DD/HHMMSS-<8 random characters>.json.gz`, one gzip
  object of JSON lines per upload (`shipping.LakeLogs.key_format`); the service is the route tag's first part.
  The catalog's `lake.layers.logs` says so (format json, codec gzip, partitioning [service, date]); a test holds
  the two together.
- Identity (`LAKE_LOG_WRITER`, components/storage/access.py `PrefixWriter` with `access="put"`): s3:PutObject on
  `shipper/*` of the logs bucket and nothing else: no list, no read, no delete, no multipart upload. The bucket
  keeps its versioning, its COMPLIANCE object lock and the catalog's retention (components/storage/component.py);
  keys are unique, so the shipper never replaces an object.
  - dev (MinIO): a MinIO user; its keys reach the pods as `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` from the
    Secret `CREDENTIALS_SECRET` (out_s3's standard credential chain reads the environment first).
  - prod (S3): an IAM role the `fluent-bit` service account assumes with its projected token (IRSA): the values
    mount the token and set `AWS_WEB_IDENTITY_TOKEN_FILE`; the Secret carries `AWS_ROLE_ARN` (known once the role
    exists). out_s3's chain reads both (fluent/fluent-bit src/aws/flb_aws_credentials_sts.c@v5.1.1, the EKS
    provider).
- Reading it back: infra/ops/logs_search.py (`make logs-search`), read-only on the prefix.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.kit.cluster import ClusterContext
from components.logs.shipping import LAKE_STORE_DIR, TLS_DIR, LakeLogs
from components.storage.access import WEB_IDENTITY_AUDIENCE, PrefixWriter
from infra.model.naming import bucket_name, namespace_name

BUCKET_ROLE = "logs"
PREFIX = "shipper"
# The chart's service account (fullnameOverride `fluent-bit`).
SERVICE_ACCOUNT = "fluent-bit"
LAKE_LOG_WRITER = PrefixWriter(
    "log-shipper-lake", BUCKET_ROLE, f"{PREFIX}/", "Fluent Bit's copy of the platform's logs in the lake's logs layer.",
    namespace_name("logs"), SERVICE_ACCOUNT, access="put",
)
CREDENTIALS_SECRET = "log-shipper-lake"
TOKEN_DIR = "/var/run/secrets/lake-logs"
TOKEN_FILE = "token"
TOKEN_SECONDS = 86400


def target(name_prefix: str, stack: str, region: str, minio_server: str | None) -> LakeLogs:
    """Where a stack's shipper writes: MinIO's https endpoint, verified with the stack CA the pod already mounts
    for Elasticsearch (MinIO's certificate comes from the same CA), or AWS S3 in `region`."""
    return LakeLogs(
        bucket=bucket_name(name_prefix, stack, BUCKET_ROLE), prefix=PREFIX, region=region,
        endpoint=f"https://{minio_server}" if minio_server else None,
        ca_file=f"{TLS_DIR}/ca.crt" if minio_server else None,
    )


def pod_values(lake: LakeLogs) -> dict[str, Any]:
    """What the fluent-bit chart's values add for the s3 output: `envFrom` (the Secret), `env` and `volumes` for the
    web identity token on S3, and the buffer directory (the root filesystem is read-only)."""
    values: dict[str, Any] = {
        "envFrom": [{"secretRef": {"name": CREDENTIALS_SECRET}}],
        "volumes": [{"name": "lake-buffer", "emptyDir": {}}],
        "volumeMounts": [{"name": "lake-buffer", "mountPath": LAKE_STORE_DIR}],
        "env": [],
    }
    if lake.endpoint is None:
        values["volumes"].append({"name": "lake-token", "projected": {"sources": [{"serviceAccountToken": {
            "audience": WEB_IDENTITY_AUDIENCE, "expirationSeconds": TOKEN_SECONDS, "path": TOKEN_FILE}}]}})
        values["volumeMounts"].append({"name": "lake-token", "mountPath": TOKEN_DIR, "readOnly": True})
        values["env"].append({"name": "AWS_WEB_IDENTITY_TOKEN_FILE", "value": f"{TOKEN_DIR}/{TOKEN_FILE}"})
    return values


def secret_data(credentials: dict[str, str] | None, role_arn: str | None) -> dict[str, str]:
    """The Secret's keys, which become the pods' environment: MinIO keys, or the role to assume."""
    if credentials is not None:
        return {"AWS_ACCESS_KEY_ID": credentials["access_key_id"],
                "AWS_SECRET_ACCESS_KEY": credentials["secret_access_key"]}
    if role_arn is None:
        raise ValueError("the lake log writer needs MinIO credentials or an IAM role")
    return {"AWS_ROLE_ARN": role_arn}


def declare_secret(name: str, cluster: ClusterContext, parent: pulumi.Resource,
                   credentials: pulumi.Input[dict] | None, role_arn: pulumi.Input[str] | None) -> k8s.core.v1.Secret:
    """The Secret in `dp-logs` that the shipper's pods read through `envFrom`; a Pulumi secret in state."""
    data = pulumi.Output.all(credentials, role_arn).apply(lambda values: secret_data(values[0], values[1]))
    return k8s.core.v1.Secret(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=CREDENTIALS_SECRET, namespace=cluster.namespaces["logs"]),
        type="Opaque",
        string_data=pulumi.Output.secret(data),
        opts=cluster.options(parent, additional_secret_outputs=["stringData", "data"]),
    )
