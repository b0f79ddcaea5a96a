"""How the Elasticsearch nodes reach the backups bucket for their snapshots: the S3 client's node settings, its
credentials, and the trust in the object store's certificate. Pure data: components/logs/component.py puts it into
the `Elasticsearch` resource; components/logs/spec.py has the repository and the lifecycle policies.

- The client: the repository names the S3 client `backups` (`s3.client.backups.*` node settings, elasticsearch.yml
  through the node sets' `config`): MinIO's endpoint over https with path-style addressing in dev; AWS S3 in the
  stack's region in prod.
- Credentials, least privilege, both limited to `elasticsearch/` of the backups bucket
  (components/storage/access.py `PrefixWriter`):
  - dev (MinIO): a MinIO user's keys in the nodes' keystore, through ECK's `secureSettings` (a Secret whose keys are
    the keystore settings `s3.client.backups.access_key` and `.secret_key`);
  - prod (S3): no key. The nodes run as the `logs-snapshots` service account, whose token (audience
    `sts.amazonaws.com`) is projected to `config/repository-s3/aws-web-identity-token-file`, the one place the S3
    repository reads a web identity token from (elastic/elasticsearch, modules/repository-s3 `S3Service`,
    `repository-s3/aws-web-identity-token-file` under the config directory), with `AWS_WEB_IDENTITY_TOKEN_FILE`
    pointing there and `AWS_ROLE_ARN` naming the role (ECK's "Use AWS IAM roles for service accounts (IRSA)",
    docs-content deploy-manage/tools/snapshot-and-restore/cloud-on-k8s.md). The role trusts only that service
    account through the cluster's OIDC provider (`storage.s3.oidcProviderArn`).
- TLS: the S3 client verifies the object store against the JVM's default trust store (there is no per-client CA
  setting). In dev MinIO's certificate comes from the stack's CA, so an init container running the image's own
  `keytool` copies the JDK's `cacerts` and imports the stack CA into it, and `ES_JAVA_OPTS` points the JVM at the
  copy (`javax.net.ssl.trustStore`), the way ECK documents for S3-compatible services (same page, "Use
  S3-compatible services"). AWS S3's certificates chain to public CAs already in `cacerts`: prod keeps the default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components.logs.spec import BASE_PATH, S3_CLIENT
from components.storage.access import WEB_IDENTITY_AUDIENCE, PrefixWriter
from infra.model.naming import namespace_name

SERVICE_ACCOUNT = "logs-snapshots"
SNAPSHOT_WRITER = PrefixWriter(
    "elasticsearch-snapshots", "backups", BASE_PATH, "Elasticsearch's snapshots of the log and audit indices.",
    namespace_name("logs"), SERVICE_ACCOUNT,
)
CONFIG_DIR = "/usr/share/elasticsearch/config"
TOKEN_DIR = f"{CONFIG_DIR}/repository-s3"
TOKEN_FILE = "aws-web-identity-token-file"
TOKEN_SECONDS = 86400
# The keystore settings ECK's `secureSettings` puts into each node's keystore.
ACCESS_KEY_SETTING = f"s3.client.{S3_CLIENT}.access_key"
SECRET_KEY_SETTING = f"s3.client.{S3_CLIENT}.secret_key"
CREDENTIALS_SECRET = "logs-snapshot-credentials"
CA_SECRET = "platform-ca-bundle"
CA_KEY = "ca.crt"
TRUSTSTORE_DIR = f"{CONFIG_DIR}/snapshot-truststore"
TRUSTSTORE = f"{TRUSTSTORE_DIR}/cacerts"
# The JDK's own store password (the ECK page's `changeit`): the store holds public certificates only.
TRUSTSTORE_PASSWORD = "changeit"
JDK = "/usr/share/elasticsearch/jdk"


@dataclass(frozen=True)
class SnapshotTarget:
    """Where the snapshots go and how the nodes get in: MinIO (`endpoint` host:port and `credentials`) or AWS S3
    (`role_arn`, assumed with the service account's token)."""

    bucket: pulumi.Input[str]
    region: str
    endpoint: str | None = None
    credentials: pulumi.Input[dict] | None = None
    role_arn: pulumi.Input[str] | None = None

    @property
    def minio(self) -> bool:
        return self.endpoint is not None


def client_settings(target: SnapshotTarget) -> dict[str, Any]:
    """The `backups` S3 client's node settings (elasticsearch.yml)."""
    prefix = f"s3.client.{S3_CLIENT}"
    settings: dict[str, Any] = {f"{prefix}.region": target.region}
    if target.minio:
        settings |= {f"{prefix}.endpoint": target.endpoint, f"{prefix}.protocol": "https",
                     f"{prefix}.path_style_access": True}
    return settings


def truststore_init_container(image: str) -> dict[str, Any]:
    """Builds the trust store the JVM reads: the JDK's `cacerts` with the stack CA added."""
    script = (f"cp {JDK}/lib/security/cacerts {TRUSTSTORE} && "
              f"{JDK}/bin/keytool -importcert -noprompt -alias platform-ca -keystore {TRUSTSTORE} "
              f"-storepass {TRUSTSTORE_PASSWORD} -file /ca/{CA_KEY}")
    return {
        "name": "snapshot-truststore",
        "image": image,
        "command": ["sh", "-c", script],
        "volumeMounts": [{"name": "snapshot-truststore", "mountPath": TRUSTSTORE_DIR},
                         {"name": "platform-ca", "mountPath": "/ca", "readOnly": True}],
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                            "readOnlyRootFilesystem": True, "runAsNonRoot": True},
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "256Mi"}},
    }


def pod_additions(target: SnapshotTarget, image: str) -> dict[str, Any]:
    """What the node pods need for the client: `volumes`, the elasticsearch container's `volumeMounts` and `env`,
    `initContainers`, and the `serviceAccountName` (prod)."""
    if target.minio:
        return {
            "volumes": [{"name": "snapshot-truststore", "emptyDir": {}},
                        {"name": "platform-ca", "secret": {"secretName": CA_SECRET}}],
            "volumeMounts": [{"name": "snapshot-truststore", "mountPath": TRUSTSTORE_DIR, "readOnly": True}],
            "env": [{"name": "ES_JAVA_OPTS", "value": f"-Djavax.net.ssl.trustStore={TRUSTSTORE} "
                                                      f"-Djavax.net.ssl.trustStorePassword={TRUSTSTORE_PASSWORD}"}],
            "initContainers": [truststore_init_container(image)],
        }
    return {
        "serviceAccountName": SERVICE_ACCOUNT,
        "volumes": [{"name": "aws-iam-token", "projected": {"sources": [{"serviceAccountToken": {
            "audience": WEB_IDENTITY_AUDIENCE, "expirationSeconds": TOKEN_SECONDS, "path": TOKEN_FILE}}]}}],
        "volumeMounts": [{"name": "aws-iam-token", "mountPath": TOKEN_DIR, "readOnly": True}],
        "env": [{"name": "AWS_WEB_IDENTITY_TOKEN_FILE", "value": f"{TOKEN_DIR}/{TOKEN_FILE}"},
                {"name": "AWS_ROLE_ARN", "value": target.role_arn}],
    }
