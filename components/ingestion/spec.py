"""What the ingestion layer renders, as plain data: Airbyte's chart values, its secrets' keys and its alerts.

Pure functions, no resources: `components/ingestion/component.py` declares them, the tests pin them. Paths are those of
the pinned chart (airbyte 1.8.5, recorded in infra/model/charts.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.kit.cluster import server_certificate, service_dns_names
from components.kit.hardening import Resources, container_security
from components.kit.images import pinned
from components.metadata.access import DatabaseLogin
from components.monitoring.component import AlertRule, RecordingRule
from components.storage.access import ServiceBucket
from infra.model import naming
from infra.model.charts import AIRBYTE_COMPONENTS
from infra.model.naming import namespace_name, service_host

LAYER = "ingestion"
RELEASE = "airbyte"
# Airbyte keeps its state in a database of its own in the metadata PostgreSQL, as the catalog service `airbyte`.
DATABASE_LOGIN = DatabaseLogin(RELEASE, own_database=True)
# Airbyte's state and job logs, in a bucket of its own that only its `airbyte` identity writes.
STATE_BUCKET = ServiceBucket("airbyte", "airbyte", "Airbyte's state and job logs.")
API_PORT = 8001
SERVER_SERVICE = f"{RELEASE}-airbyte-server-svc"  # the chart names it `<release>-airbyte-server-svc`
SERVER_DEPLOYMENT = f"{RELEASE}-server"
SERVER_SELECTOR = {"app.kubernetes.io/name": "server", "app.kubernetes.io/instance": RELEASE}
# Airbyte's server speaks plain HTTP; an nginx sidecar in its pod terminates TLS with a cert-manager certificate,
# and the providers reach the API only through it (Service API_SERVICE).
API_SERVICE = "airbyte-api"
API_TLS_PORT = 8443
API_TLS_SECRET = "airbyte-api-tls"
PROXY_CONFIG_MAP = "airbyte-api-proxy"
PROXY_IMAGE = "nginxinc/nginx-unprivileged:1.27-alpine"
PROXY_UID = 101  # the `nginx` user of the unprivileged image
PROXY_TLS_DIR = "/etc/nginx/tls"
PROXY_RESOURCES = Resources(cpu="25m", memory="64Mi", cpu_limit="250m")
AIRBYTE_UID = 1000  # the `airbyte` user of Airbyte's images
# One Secret for auth (Airbyte's community auth reads `global.auth.secretName`), one for the database and the
# state bucket's keys; the chart references both by name, none of their values is in the release's values.
AUTH_SECRET = "airbyte-auth-secrets"
CONFIG_SECRET = "airbyte-config-secrets"
AUTH_KEYS = ("instance-admin-email", "instance-admin-password", "instance-admin-client-id",
             "instance-admin-client-secret", "jwt-signature-secret")
DATABASE_USER_KEY, DATABASE_PASSWORD_KEY = "database-user", "database-password"
ACCESS_KEY_ID_KEY, SECRET_ACCESS_KEY_KEY = "s3-access-key-id", "s3-secret-access-key"
# Airbyte's JVMs write temporary files; the root filesystem stays read-only and /tmp is an emptyDir.
TMP_VOLUME = {"name": "tmp", "emptyDir": {}}
TMP_MOUNT = {"name": "tmp", "mountPath": "/tmp"}
WRITABLE_TMP = ("server", "worker", "workload-launcher", "workload-api-server", "cron", "connector-builder-server",
                "airbyte-bootloader", "temporal")
# Airbyte's JVMs (every component but Temporal, which is Go) trust the stack's CA through a truststore an init
# container builds in an emptyDir from the image's own roots plus the CA (ConfigMap CA_CONFIG_MAP), handed to
# the JVM with JAVA_TOOL_OPTIONS (the chart sets that variable only when `debug.enabled`). Each init container
# runs its component's own image, whose tag is the chart's appVersion (airbyte 1.8.5 -> app 1.8.5).
JAVA_COMPONENTS: dict[str, str] = {
    "server": "airbyte/server", "worker": "airbyte/worker", "workload-launcher": "airbyte/workload-launcher",
    "workload-api-server": "airbyte/workload-api-server", "cron": "airbyte/cron",
    "connector-builder-server": "airbyte/connector-builder-server", "airbyte-bootloader": "airbyte/bootloader",
}
AIRBYTE_APP_VERSION = "1.8.5"
CA_CONFIG_MAP = "airbyte-platform-ca"
CA_DIR = "/etc/dataplatform/ca"
TRUST_DIR = "/etc/dataplatform/truststore"
TRUSTSTORE_PASSWORD = "changeit"  # the JDK's default: the store holds public certificates only
JAVA_TOOL_OPTIONS = (f"-Djavax.net.ssl.trustStore={TRUST_DIR}/cacerts "
                     f"-Djavax.net.ssl.trustStorePassword={TRUSTSTORE_PASSWORD}")
# Airbyte builds its JDBC URL as `jdbc:postgresql://<host>:<port>/<global.database.database>` and the chart has no
# separate parameters value, so the parameters ride on the database name (Airbyte reads only DATABASE_URL; the
# name alone, DATABASE_DB, is used by nothing but the disabled Keycloak). The server's certificate is checked
# against DB_CA_FILE: the stack's CA where the metadata server runs in the cluster, the RDS bundle (copied by an
# init container from the image that ships it) where it is RDS.
DB_CA_DIR = naming.POD_DB_CA_DIR
INIT_RESOURCES = Resources(cpu="50m", memory="256Mi", cpu_limit="500m")  # keytool is a JVM
# Replication pods Airbyte's workload launcher starts: `replication-job-<job>-attempt-<n>`.
REPLICATION_POD = "replication-job-.*"
SYNC_FAILURES = "airbyte:sync_failures:count"


@dataclass(frozen=True)
class AirbyteShape:
    """Everything that sizes and wires Airbyte's release in one stack."""

    state_bucket: str
    """The `airbyte` bucket: state, job logs and workload output."""
    store_endpoint: str | None
    """MinIO's https URL (dev); None for AWS S3."""
    region: str
    database: str
    job_resources: Resources
    proxy_resources: Resources = PROXY_RESOURCES
    admin_first_name: str = "Platform"
    admin_last_name: str = "Administrator"
    rds_ca_image: str | None = None
    """prod: the platform image that ships the RDS CA bundle (the metadata layer's `migrations` image)."""
    rds_ca_file: str | None = None
    """prod: the bundle's path in that image (`metadata.caBundleFile`); None where PostgreSQL is in the cluster."""

    def database_ca_file(self) -> str:
        """The file the JDBC connection verifies the metadata server against."""
        return naming.POD_RDS_CA_FILE if self.rds_ca_file else f"{CA_DIR}/ca.crt"


def database_name(shape: AirbyteShape) -> str:
    """`global.database.database`: the name plus the JDBC parameters that force verified TLS (see DB_CA_DIR)."""
    return f"{shape.database}?sslmode=verify-full&sslrootcert={shape.database_ca_file()}"


def truststore_script() -> str:
    """The truststore init container's shell: the JVM's own roots plus the stack's CA, in the `truststore` volume."""
    store = f"-keystore {TRUST_DIR}/cacerts -storepass {TRUSTSTORE_PASSWORD}"
    return (f'cp "$JAVA_HOME/lib/security/cacerts" {TRUST_DIR}/cacerts && chmod u+w {TRUST_DIR}/cacerts && '
            f'"$JAVA_HOME/bin/keytool" -importcert -noprompt -alias platform-ca -file {CA_DIR}/ca.crt {store}')


def _trust(shape: AirbyteShape, component: str) -> dict[str, Any]:
    """A JVM component's init containers, volumes, mounts and environment for the CA (see JAVA_COMPONENTS)."""
    security = container_security(run_as_user=AIRBYTE_UID)
    init = [{
        "name": "truststore", "image": pinned(f"{JAVA_COMPONENTS[component]}:{AIRBYTE_APP_VERSION}"),
        "command": ["sh", "-c", truststore_script()], "securityContext": security,
        "resources": INIT_RESOURCES.values(),
        "volumeMounts": [{"name": "platform-ca", "mountPath": CA_DIR, "readOnly": True},
                         {"name": "truststore", "mountPath": TRUST_DIR}],
    }]
    volumes = [{"name": "platform-ca", "configMap": {"name": CA_CONFIG_MAP}}, {"name": "truststore", "emptyDir": {}}]
    mounts = [{"name": "platform-ca", "mountPath": CA_DIR, "readOnly": True},
              {"name": "truststore", "mountPath": TRUST_DIR, "readOnly": True}]
    if shape.rds_ca_file:
        if not shape.rds_ca_image:
            raise ValueError("an RDS CA bundle path needs the image that ships it (`rds_ca_image`)")
        init.insert(0, {
            "name": "rds-ca", "image": shape.rds_ca_image,
            "command": ["cp", shape.rds_ca_file, shape.database_ca_file()], "securityContext": security,
            "resources": INIT_RESOURCES.values(), "volumeMounts": [{"name": "db-ca", "mountPath": DB_CA_DIR}],
        })
        volumes.append({"name": "db-ca", "emptyDir": {}})
        mounts.append({"name": "db-ca", "mountPath": DB_CA_DIR, "readOnly": True})
    return {"extraInitContainers": init, "extraVolumes": [TMP_VOLUME, *volumes],
            "extraVolumeMounts": [TMP_MOUNT, *mounts],
            "extraEnv": [{"name": "JAVA_TOOL_OPTIONS", "value": JAVA_TOOL_OPTIONS}]}


def server_url() -> str:
    """Airbyte's API as the providers reach it inside the cluster: through the server pod's TLS front."""
    return f"https://{service_host(API_SERVICE, LAYER)}:{API_TLS_PORT}"


def certificate(issuer: str) -> dict[str, Any]:
    """The TLS front's certificate (cert-manager writes tls.crt, tls.key and ca.crt into API_TLS_SECRET)."""
    return server_certificate(API_TLS_SECRET, service_dns_names(API_SERVICE, LAYER), issuer)


def proxy_conf() -> str:
    """nginx's server block: TLS on API_TLS_PORT, proxied to the server container on localhost."""
    return "\n".join([
        "server {",
        f"    listen {API_TLS_PORT} ssl;",
        f"    ssl_certificate {PROXY_TLS_DIR}/tls.crt;",
        f"    ssl_certificate_key {PROXY_TLS_DIR}/tls.key;",
        "    ssl_protocols TLSv1.2 TLSv1.3;",
        "    client_max_body_size 16m;",
        "    location / {",
        f"        proxy_pass http://127.0.0.1:{API_PORT};",
        "        proxy_set_header Host $host;",
        "        proxy_set_header X-Forwarded-Proto https;",
        "        proxy_read_timeout 300s;",
        "    }",
        "}",
        "",
    ])


def api_service() -> dict[str, Any]:
    """The Service of the TLS front: the server pods' proxy port, ClusterIP."""
    return {"type": "ClusterIP", "selector": SERVER_SELECTOR,
            "ports": [{"name": "api-tls", "port": API_TLS_PORT, "targetPort": API_TLS_PORT, "protocol": "TCP"}]}


def _tls_proxy(resources: Resources) -> dict[str, Any]:
    return {
        "name": "tls-proxy",
        "image": pinned(PROXY_IMAGE),
        "ports": [{"name": "api-tls", "containerPort": API_TLS_PORT, "protocol": "TCP"}],
        "securityContext": container_security(run_as_user=PROXY_UID),
        "resources": resources.values(),
        "readinessProbe": {"tcpSocket": {"port": API_TLS_PORT}, "periodSeconds": 10},
        "volumeMounts": [{"name": "api-tls", "mountPath": PROXY_TLS_DIR, "readOnly": True},
                         {"name": "api-proxy-conf", "mountPath": "/etc/nginx/conf.d", "readOnly": True},
                         {"name": "proxy-tmp", "mountPath": "/tmp"}],
    }


def _storage(shape: AirbyteShape) -> dict[str, Any]:
    buckets = {role: shape.state_bucket for role in ("log", "state", "workloadOutput", "activityPayload")}
    if shape.store_endpoint is None:
        return {"type": "s3", "secretName": CONFIG_SECRET, "bucket": buckets,
                "s3": {"region": shape.region, "authenticationType": "credentials",
                       "accessKeyIdSecretKey": ACCESS_KEY_ID_KEY, "secretAccessKeySecretKey": SECRET_ACCESS_KEY_KEY}}
    # The chart's `minio` type talks to an S3-compatible endpoint with path-style access: the runtime's MinIO.
    return {"type": "minio", "secretName": CONFIG_SECRET, "bucket": buckets,
            "minio": {"endpoint": shape.store_endpoint, "accessKeyIdSecretKey": ACCESS_KEY_ID_KEY,
                      "secretAccessKeySecretKey": SECRET_ACCESS_KEY_KEY}}


def values(shape: AirbyteShape) -> dict[str, Any]:
    """The chart's values fragment (hardening is added by the release mechanism); the database host is set at
    deploy time because on RDS it is an Output."""
    fragment: dict[str, Any] = {
        "global": {
            "edition": "community",
            "auth": {
                "enabled": True,
                "secretName": AUTH_SECRET,
                "instanceAdmin": {"secretName": AUTH_SECRET, "firstName": shape.admin_first_name,
                                  "lastName": shape.admin_last_name},
            },
            "database": {"type": "external", "secretName": CONFIG_SECRET, "port": "5432",
                         "database": database_name(shape), "userSecretKey": DATABASE_USER_KEY,
                         "passwordSecretKey": DATABASE_PASSWORD_KEY},
            "storage": _storage(shape),
            "jobs": {"resources": shape.job_resources.values()},
        },
        # The metadata layer's PostgreSQL and the lake's `airbyte` bucket replace the bundled ones.
        "postgresql": {"enabled": False},
        "webapp": {"enabled": False},
        "temporal-ui": {"enabled": False},
        "metrics": {"enabled": False},
        "keycloak": {"enabled": False},
        "keycloak-setup": {"enabled": False},
    }
    for component in WRITABLE_TMP:
        fragment.setdefault(component, {}).update({"extraVolumes": [TMP_VOLUME], "extraVolumeMounts": [TMP_MOUNT]})
    for component in JAVA_COMPONENTS:
        fragment[component].update(_trust(shape, component))
    fragment["server"]["extraVolumes"] = [
        *fragment["server"]["extraVolumes"], {"name": "proxy-tmp", "emptyDir": {}},
        {"name": "api-tls", "secret": {"secretName": API_TLS_SECRET}},
        {"name": "api-proxy-conf", "configMap": {"name": PROXY_CONFIG_MAP}},
    ]
    fragment["server"]["extraContainers"] = [_tls_proxy(shape.proxy_resources)]
    for component in AIRBYTE_COMPONENTS:
        fragment.setdefault(component, {})
    return fragment


def alert_rules() -> list[AlertRule | RecordingRule]:
    """The seed's sync-failure alert and the server's health (runbooks in docs/ingestion.md).

    Airbyte's community edition exports no metrics (its OpenTelemetry metrics are Enterprise-only), so the
    seed's `airbyte_sync_failures_total` is stood in for by a recording rule over kube-state-metrics: the
    replication pods that ended in phase Failed and that Airbyte has not cleaned up yet.
    """
    namespace = f'namespace="{namespace_name(LAYER)}"'
    return [
        RecordingRule(
            SYNC_FAILURES,
            f'count(kube_pod_status_phase{{{namespace},phase="Failed",pod=~"{REPLICATION_POD}"}} == 1) or vector(0)',
        ),
        AlertRule(
            "AirbyteSyncFailures",
            f"{SYNC_FAILURES} > 0",
            "An Airbyte sync failed; bronze is missing the data of its connection since the last good sync.",
            duration="0m", severity="critical", runbooks="docs/ingestion.md",
        ),
        AlertRule(
            "AirbyteServerDown",
            f'kube_deployment_status_replicas_available{{{namespace},deployment="{SERVER_DEPLOYMENT}"}} < 1',
            "Airbyte's server is unavailable: no syncs are scheduled and the API refuses configuration.",
            duration="5m", severity="critical", runbooks="docs/ingestion.md",
        ),
    ]
