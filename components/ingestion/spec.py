"""What the ingestion layer renders, as plain data: Airbyte's chart values, its secrets' keys and its alerts.

Pure functions, no resources: `components/ingestion/component.py` declares them, the tests pin them. Paths are those of
the pinned chart V2 (airbyte 2.1.1 from airbytehq/charts, recorded in infra/model/charts.py; its sources are
airbyte-platform's `charts/v2/airbyte`). Every fact about the chart below names the template it is read from, inside
the package `airbyte-2.1.1.tgz`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.kit.cluster import server_certificate, service_dns_names
from components.kit.hardening import Resources, container_security
from components.kit.images import NGINX_UNPRIVILEGED, pinned, pinned_tag
from components.metadata.access import DatabaseLogin
from components.monitoring.component import AlertRule
from components.storage.access import ServiceBucket
from infra.model import naming
from infra.model.charts import AIRBYTE_COMPONENTS
from infra.model.naming import namespace_name, service_host

LAYER = "ingestion"
RELEASE = "airbyte"
# Temporal's two databases (its auto-setup's defaults DBNAME and VISIBILITY_DBNAME, temporalio/docker-builds
# release/v1.27.x docker/auto-setup.sh).
TEMPORAL_DATABASES = ("temporal", "temporal_visibility")
# Airbyte keeps its state in a database of its own in the metadata PostgreSQL, as the catalog service `airbyte`;
# Temporal, a part of Airbyte's release that the chart wires to the same login (`templates/config/_temporal.tpl`:
# POSTGRES_USER and POSTGRES_PWD come from the database Secret), owns its two databases, which the metadata layer
# creates: the login never needs CREATEDB.
DATABASE_LOGIN = DatabaseLogin(RELEASE, own_database=True, databases=TEMPORAL_DATABASES)
# Airbyte's state and job logs, in a bucket of its own that only its `airbyte` identity writes.
STATE_BUCKET = ServiceBucket("airbyte", "airbyte", "Airbyte's state and job logs.")
API_PORT = 8001
SERVER_SERVICE = f"{RELEASE}-airbyte-server-svc"  # `templates/airbyte-server/service.yaml`
SERVER_DEPLOYMENT = f"{RELEASE}-server"
# Chart V2 labels every pod with its template folder's name minus `airbyte-` (`_helpers.tpl`,
# `airbyte.selectorLabels`): `app.kubernetes.io/name: server`, ...
SERVER_SELECTOR = {"app.kubernetes.io/name": "server", "app.kubernetes.io/instance": RELEASE}
# Airbyte's server speaks plain HTTP; an nginx sidecar in its pod terminates TLS with a cert-manager certificate,
# and the providers reach the API only through it (Service API_SERVICE).
API_SERVICE = "airbyte-api"
API_TLS_PORT = naming.AIRBYTE_API_TLS_PORT
API_TLS_SECRET = "airbyte-api-tls"
PROXY_CONFIG_MAP = "airbyte-api-proxy"
PROXY_IMAGE = NGINX_UNPRIVILEGED
PROXY_UID = 101  # the `nginx` user of the unprivileged image
PROXY_TLS_DIR = "/etc/nginx/tls"
PROXY_RESOURCES = Resources(cpu="25m", memory="64Mi", cpu_limit="250m")
AIRBYTE_UID = 1000  # the `airbyte` user of Airbyte's images
# The chart's appVersion: the tag of every Airbyte image it runs (`_images.tpl`: tag, else global.image.tag, else
# .Chart.AppVersion).
AIRBYTE_APP_VERSION = "2.1.1"
# One Secret for auth (the chart's managed auth Secret, `global.auth.managedSecretName`, default
# `airbyte-auth-secrets`: the server reads the instance administrator and the JWT key from it, the bootloader
# adds the data plane's credentials to it), one for the database and the state bucket's keys; the chart
# references both by name, none of their values is in the release's values.
AUTH_SECRET = "airbyte-auth-secrets"
CONFIG_SECRET = "airbyte-config-secrets"
AUTH_KEYS = ("instance-admin-email", "instance-admin-password", "instance-admin-client-id",
             "instance-admin-client-secret", "jwt-signature-secret")
DATABASE_USER_KEY, DATABASE_PASSWORD_KEY = "database-user", "database-password"
ACCESS_KEY_ID_KEY, SECRET_ACCESS_KEY_KEY = "s3-access-key-id", "s3-secret-access-key"
# Service accounts (components/ingestion/component.py declares them; the chart's shared `airbyte-admin`, which may
# exec into pods and read every Secret, is not created): the workload launcher starts and removes the job pods,
# the bootloader writes the data plane's credentials into the auth Secret, everything else (job pods included:
# JOB_KUBE_SERVICEACCOUNT is `global.serviceAccountName`, `templates/config/_jobs.tpl`) calls no Kubernetes API and
# mounts no token.
DEFAULT_ACCOUNT = "airbyte"
LAUNCHER_ACCOUNT = "airbyte-workload-launcher"
BOOTLOADER_ACCOUNT = "airbyte-bootloader"
# Airbyte's JVMs write temporary files; the root filesystem stays read-only and /tmp is an emptyDir.
TMP_VOLUME = {"name": "tmp", "emptyDir": {}}
TMP_MOUNT = {"name": "tmp", "mountPath": "/tmp"}
# Airbyte's JVM components by values key, and their images (`<key>.image.repository` in values.yaml).
JAVA_COMPONENTS: dict[str, str] = {
    "server": "airbyte/server", "worker": "airbyte/worker", "workloadLauncher": "airbyte/workload-launcher",
    "workloadApiServer": "airbyte/workload-api-server", "cron": "airbyte/cron",
    "airbyteBootloader": "airbyte/bootloader",
}
# Trust, the platform's way: Airbyte's Java base image (airbyte-platform release/2.1.0, airbyte-base-java-image:
# Dockerfile and entrypoint.sh) runs `update-ca-trust` before the service and gives its user the CA trust
# directories, so a CA placed among the anchors joins the system and Java trust stores. With a read-only root
# the store update-ca-trust writes (/etc/pki/ca-trust/extracted) is an emptyDir that an init container fills with
# the image's own copy, and JAVA_OPTS (`global.java.opts`, `_helpers.tpl` `airbyte.java_opts.envs`) points the JVM
# at the Java store it regenerates.
CA_CONFIG_MAP = "airbyte-platform-ca"
ANCHORS_DIR = "/etc/pki/ca-trust/source/anchors"
EXTRACTED_DIR = "/etc/pki/ca-trust/extracted"
EXTRACTED_COPY = "/var/run/ca-trust-extracted"
JAVA_TRUSTSTORE = f"{EXTRACTED_DIR}/java/cacerts"
JAVA_OPTS = (f"-Djavax.net.ssl.trustStore={JAVA_TRUSTSTORE}", "-Djavax.net.ssl.trustStorePassword=changeit")
# Airbyte builds its JDBC URL as `jdbc:postgresql://<host>:<port>/<global.database.name>` and has no value for
# parameters (`templates/config/_database.tpl`, `airbyte.database.url`), so the parameters ride on the name.
DB_CA_DIR = naming.POD_DB_CA_DIR
INIT_RESOURCES = Resources(cpu="50m", memory="128Mi", cpu_limit="250m")
# Temporal (Go, temporalio/auto-setup): its server reads SQL_TLS_ENABLED, SQL_CA, SQL_HOST_VERIFICATION and
# SQL_HOST_NAME (temporalio/temporal v1.27.2 docker/config_template.yaml, postgres12); the chart sets only
# SQL_TLS_ENABLED, so the others are added without shadowing any variable it sets. The image's own schema setup
# would pass `--tls-disable-host-verification` from the chart's POSTGRES_TLS_DISABLE_HOST_VERIFICATION ("true" for
# an external database, with no value to change it), so it is skipped (SKIP_SCHEMA_SETUP) and an init container
# runs the same temporal-sql-tool with verification on, against the databases the metadata layer created.
TEMPORAL_IMAGE = "temporalio/auto-setup"
TEMPORAL_TAG = "1.27.2"  # values.yaml `temporal.image.tag`
TEMPORAL_CONFIG_DIR = "/etc/temporal/config"
TEMPORAL_SCHEMA_DIR = "/etc/temporal/schema/postgresql/v12"
TEMPORAL_PLUGIN = "postgres12"  # values.yaml `temporal.database.engine`
ENV_CONFIG_MAP = f"{RELEASE}-airbyte-env"  # `templates/env-configmap.yaml`: DATABASE_HOST, DATABASE_PORT, ...
# Job pods: the replication orchestrator gets JAVA_OPTS from `global.workloads.containerOrchestrator.javaOpts` and
# the Secret named in `global.workloads.containerOrchestrator.dataPlane.secretName` mounted at its `secretMountPath`
# (airbyte-platform release/2.1.0 airbyte-workload-launcher: pods/factories/VolumeFactory.kt `dataplaneCreds`,
# RuntimeEnvVarFactory.kt; the launcher replaces the image's entrypoint, so update-ca-trust does not run there).
JOB_TRUST_SECRET = "airbyte-job-truststore"
JOB_TRUST_DIR = "/etc/dataplatform/job-trust"
JOB_TRUSTSTORE_KEY = "truststore.jks"
JOB_JAVA_OPTS = (f"-Djavax.net.ssl.trustStore={JOB_TRUST_DIR}/{JOB_TRUSTSTORE_KEY} "
                 "-Djavax.net.ssl.trustStorePassword=changeit -Djavax.net.ssl.trustStoreType=JKS")
# Replication pods Airbyte's workload launcher starts: `replication-job-<job>-attempt-<n>` (the board's sync panels).
REPLICATION_POD = "replication-job-.*"
# The label the launcher gives every pod of a connection's job: the connection's id (airbyte-platform release/2.1.0,
# commit 061b8f3: airbyte-commons-workload/src/main/kotlin/io/airbyte/workload/common/WorkloadLabels.kt
# `CONNECTION_ID_LABEL_KEY`, set on the replication workload by airbyte-server's CommandService.kt and passed through
# to the pod by airbyte-workload-launcher/src/main/kotlin/pods/PodLabeler.kt `getSharedLabels`). kube-state-metrics
# exports it on `kube_pod_labels` as `label_connection_id` once its allow-list names it (the runtime's values).
CONNECTION_ID_LABEL = "connection_id"
# How long the launcher keeps a job's pod once it ended (airbyte-workload-launcher application.yml: succeededTtl 10,
# unsuccessfulTtl 120 minutes by default). A failed attempt is judged against the newest attempt of its connection
# still listed, so a success must stay listed at least as long as a failure: both kept this long.
JOB_POD_TTL_MINUTES = 120
# Parts of the chart the platform does not run: the UI (the API is reached through the TLS front), the connector
# builder's manifest server, metrics and Keycloak (Enterprise), Temporal's UI, the rollout worker, and the bundled
# PostgreSQL and MinIO (the metadata layer's PostgreSQL and the lake's `airbyte` bucket replace them).
DISABLED = ("webapp", "manifestServer", "metrics", "keycloak", "keycloakSetup", "temporalUi",
            "connectorRolloutWorker", "featureflagServer", "stiggSidecar", "postgresql", "minio")


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
        """The file the database connections verify the metadata server against."""
        return naming.POD_RDS_CA_FILE if self.rds_ca_file else f"{ANCHORS_DIR}/ca.crt"


def database_name(shape: AirbyteShape) -> str:
    """`global.database.name`: the name plus the JDBC parameters that force verified TLS (see DB_CA_DIR)."""
    return f"{shape.database}?sslmode=verify-full&sslrootcert={shape.database_ca_file()}"


def _security() -> dict[str, Any]:
    return container_security(run_as_user=AIRBYTE_UID)


def _rds_ca(shape: AirbyteShape) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """prod: the init container that copies RDS's bundle, its volume and the read-only mount; nothing in dev."""
    if not shape.rds_ca_file:
        return [], [], []
    if not shape.rds_ca_image:
        raise ValueError("an RDS CA bundle path needs the image that ships it (`rds_ca_image`)")
    init = {"name": "rds-ca", "image": shape.rds_ca_image,
            "command": ["cp", shape.rds_ca_file, shape.database_ca_file()], "securityContext": _security(),
            "resources": INIT_RESOURCES.values(), "volumeMounts": [{"name": "db-ca", "mountPath": DB_CA_DIR}]}
    return [init], [{"name": "db-ca", "emptyDir": {}}], [{"name": "db-ca", "mountPath": DB_CA_DIR, "readOnly": True}]


def ca_trust_script() -> str:
    """The init container's shell: the image's trust store, copied where update-ca-trust may rewrite it."""
    return f"cp -R {EXTRACTED_DIR}/. {EXTRACTED_COPY}/"


def _trust(shape: AirbyteShape, component: str) -> dict[str, Any]:
    """A JVM component's init containers, volumes and mounts for the platform CA and the database's CA."""
    rds_init, rds_volumes, rds_mounts = _rds_ca(shape)
    image = pinned(f"{JAVA_COMPONENTS[component]}:{AIRBYTE_APP_VERSION}")
    init = [*rds_init, {
        "name": "ca-trust", "image": image, "command": ["sh", "-c", ca_trust_script()],
        "securityContext": _security(), "resources": INIT_RESOURCES.values(),
        "volumeMounts": [{"name": "ca-trust", "mountPath": EXTRACTED_COPY}],
    }]
    volumes = [TMP_VOLUME, {"name": "platform-ca", "configMap": {"name": CA_CONFIG_MAP}},
               {"name": "ca-trust", "emptyDir": {}}, *rds_volumes]
    mounts = [TMP_MOUNT, {"name": "platform-ca", "mountPath": ANCHORS_DIR, "readOnly": True},
              {"name": "ca-trust", "mountPath": EXTRACTED_DIR}, *rds_mounts]
    return {"extraInitContainers": init, "extraVolumes": volumes, "extraVolumeMounts": mounts}


def temporal_schema_script() -> str:
    """The schema init container's shell: the image's config template where the server may write its config, then
    Temporal's schema in both databases over TLS verified against the database's CA."""
    tool = (f'temporal-sql-tool --plugin {TEMPORAL_PLUGIN} --ep "$DATABASE_HOST" -p "$DATABASE_PORT" '
            f'-u "$SQL_USER" --tls --tls-ca-file "$SQL_CA"')
    steps = [f"cp {TEMPORAL_CONFIG_DIR}/config_template.yaml /var/run/temporal-config/"]
    for database, schema in zip(TEMPORAL_DATABASES, ("temporal", "visibility"), strict=True):
        steps += [f"{tool} --db {database} setup-schema -v 0.0",
                  f"{tool} --db {database} update-schema -d {TEMPORAL_SCHEMA_DIR}/{schema}/versioned"]
    return " && ".join(steps)


def _temporal(shape: AirbyteShape) -> dict[str, Any]:
    """Temporal's image, its schema init container, its writable config directory and its verified TLS."""
    rds_init, rds_volumes, rds_mounts = _rds_ca(shape)
    ca_mounts = [{"name": "platform-ca", "mountPath": ANCHORS_DIR, "readOnly": True}, *rds_mounts]
    from_env = [{"name": key, "valueFrom": {"configMapKeyRef": {"name": ENV_CONFIG_MAP, "key": key}}}
                for key in ("DATABASE_HOST", "DATABASE_PORT")]
    schema = {
        "name": "temporal-schema", "image": pinned(f"{TEMPORAL_IMAGE}:{TEMPORAL_TAG}"),
        "command": ["sh", "-c", temporal_schema_script()],
        "env": [*from_env,
                {"name": "SQL_USER", "valueFrom": {"secretKeyRef": {"name": CONFIG_SECRET, "key": DATABASE_USER_KEY}}},
                {"name": "SQL_PASSWORD",
                 "valueFrom": {"secretKeyRef": {"name": CONFIG_SECRET, "key": DATABASE_PASSWORD_KEY}}},
                {"name": "SQL_CA", "value": shape.database_ca_file()}],
        "securityContext": _security(), "resources": INIT_RESOURCES.values(),
        "volumeMounts": [{"name": "temporal-config", "mountPath": "/var/run/temporal-config"}, *ca_mounts],
    }
    return {
        "image": {"repository": TEMPORAL_IMAGE, "tag": pinned_tag(TEMPORAL_IMAGE, TEMPORAL_TAG)},
        "database": {"userSecretKey": DATABASE_USER_KEY, "passwordSecretKey": DATABASE_PASSWORD_KEY},
        "extraInitContainers": [*rds_init, schema],
        "extraVolumes": [TMP_VOLUME, {"name": "temporal-config", "emptyDir": {}},
                         {"name": "platform-ca", "configMap": {"name": CA_CONFIG_MAP}}, *rds_volumes],
        "extraVolumeMounts": [TMP_MOUNT, {"name": "temporal-config", "mountPath": TEMPORAL_CONFIG_DIR}, *ca_mounts],
        "extraEnv": [
            {"name": "SKIP_SCHEMA_SETUP", "value": "true"},
            {"name": "SKIP_DB_CREATE", "value": "true"},
            {"name": "DBNAME", "value": TEMPORAL_DATABASES[0]},
            {"name": "VISIBILITY_DBNAME", "value": TEMPORAL_DATABASES[1]},
            {"name": "SQL_CA", "value": shape.database_ca_file()},
            {"name": "SQL_HOST_VERIFICATION", "value": "true"},
        ],
    }


def connection_name(source: str) -> str:
    """The Airbyte connection that lands a catalog source in bronze."""
    return f"{source}-to-bronze"


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
    buckets = {role: shape.state_bucket
               for role in ("log", "state", "workloadOutput", "activityPayload", "auditLogging")}
    if shape.store_endpoint is None:
        return {"type": "s3", "secretName": CONFIG_SECRET, "bucket": buckets,
                "s3": {"region": shape.region, "authenticationType": "credentials",
                       "accessKeyIdSecretKey": ACCESS_KEY_ID_KEY, "secretAccessKeySecretKey": SECRET_ACCESS_KEY_KEY}}
    # The `minio` type talks to any S3-compatible endpoint with path-style access: the runtime's MinIO. With
    # `minio.enabled: false` the chart renders no MinIO of its own (`templates/minio.yaml`).
    return {"type": "minio", "secretName": CONFIG_SECRET, "bucket": buckets,
            "minio": {"endpoint": shape.store_endpoint, "s3PathStyleAccess": True,
                      "accessKeyIdSecretKey": ACCESS_KEY_ID_KEY, "secretAccessKeySecretKey": SECRET_ACCESS_KEY_KEY}}


def _job_resources(resources: Resources) -> dict[str, Any]:
    """`global.workloads.resources.mainContainer` (`templates/config/_workloads.tpl`): the connectors' containers."""
    values = resources.values()
    return {"cpu": {"request": values["requests"]["cpu"], "limit": values["limits"]["cpu"]},
            "memory": {"request": values["requests"]["memory"], "limit": values["limits"]["memory"]}}


def job_trust(shape: AirbyteShape) -> bool:
    """Whether the job pods' orchestrator needs the platform CA: where it keeps state and logs in the platform's own
    object store (dev's MinIO). In AWS S3 it reaches only public endpoints and Airbyte's plain-HTTP services, and
    keeps its JVM's default trust store."""
    return shape.store_endpoint is not None


def _job_trust() -> dict[str, Any]:
    return {"javaOpts": JOB_JAVA_OPTS, "dataPlane": {"secretName": JOB_TRUST_SECRET, "secretMountPath": JOB_TRUST_DIR}}


def values(shape: AirbyteShape) -> dict[str, Any]:
    """The chart's values fragment (hardening is added by the release mechanism); the database host is set at
    deploy time because on RDS it is an Output."""
    fragment: dict[str, Any] = {
        "global": {
            "edition": "community",
            "serviceAccountName": DEFAULT_ACCOUNT,
            "auth": {
                "enabled": True,
                "secretCreationEnabled": False,
                "managedSecretName": AUTH_SECRET,
                "instanceAdmin": {"firstName": shape.admin_first_name, "lastName": shape.admin_last_name},
            },
            "database": {"type": "external", "secretName": CONFIG_SECRET, "port": 5432,
                         "name": database_name(shape), "userSecretKey": DATABASE_USER_KEY,
                         "passwordSecretKey": DATABASE_PASSWORD_KEY,
                         "replica": {"userSecretKey": DATABASE_USER_KEY, "passwordSecretKey": DATABASE_PASSWORD_KEY}},
            "storage": _storage(shape),
            "java": {"opts": list(JAVA_OPTS)},
            "workloads": {"resources": {"mainContainer": _job_resources(shape.job_resources)},
                          **({"containerOrchestrator": _job_trust()} if job_trust(shape) else {})},
        },
        "serviceAccount": {"create": False},
        **{part: {"enabled": False} for part in DISABLED},
    }
    for component, repository in JAVA_COMPONENTS.items():
        fragment[component] = {"image": {"repository": repository,
                                         "tag": pinned_tag(repository, AIRBYTE_APP_VERSION)},
                               **_trust(shape, component)}
    fragment["workloadLauncher"]["serviceAccountName"] = LAUNCHER_ACCOUNT
    # `templates/airbyte-workload-launcher/deployment.yaml` appends `workloadLauncher.extraEnv`.
    fragment["workloadLauncher"]["extraEnv"] = [
        *fragment["workloadLauncher"].get("extraEnv", []),
        {"name": "SUCCEEDED_TTL_MINUTES", "value": str(JOB_POD_TTL_MINUTES)},
        {"name": "UNSUCCESSFUL_TTL_MINUTES", "value": str(JOB_POD_TTL_MINUTES)},
    ]
    fragment["airbyteBootloader"]["serviceAccountName"] = BOOTLOADER_ACCOUNT
    fragment["temporal"] = _temporal(shape)
    fragment["server"]["extraVolumes"] = [
        *fragment["server"]["extraVolumes"], {"name": "proxy-tmp", "emptyDir": {}},
        {"name": "api-tls", "secret": {"secretName": API_TLS_SECRET}},
        {"name": "api-proxy-conf", "configMap": {"name": PROXY_CONFIG_MAP}},
    ]
    fragment["server"]["extraContainers"] = [_tls_proxy(shape.proxy_resources)]
    for component in AIRBYTE_COMPONENTS:
        fragment.setdefault(component, {})
    return fragment


def _attempts_created(phase: str) -> str:
    """The creation time of each connection's newest replication pod in `phase` (a regular expression), by
    connection id (kube-state-metrics' `kube_pod_created`, `kube_pod_labels` and `kube_pod_status_phase`)."""
    pods = f'namespace="{namespace_name(LAYER)}", pod=~"{REPLICATION_POD}"'
    label = f"label_{CONNECTION_ID_LABEL}"
    return (f"max by (namespace, {label}) ("
            f"kube_pod_created{{{pods}}} "
            f"* on (namespace, pod) group_left ({label}) kube_pod_labels{{{pods}, {label}!=\"\"}} "
            f"and on (namespace, pod) (kube_pod_status_phase{{{pods}, phase=~\"{phase}\"}} == 1))")


def sync_failed_expr() -> str:
    """A connection whose newest failed attempt is newer than any attempt pending, running or succeeded, or which
    has no such attempt; the connection's id as `connection_id`."""
    failed, other = _attempts_created("Failed"), _attempts_created("Pending|Running|Succeeded")
    label = f"label_{CONNECTION_ID_LABEL}"
    return (f'label_replace(({failed} > {other}) or ({failed} unless {other}), '
            f'"{CONNECTION_ID_LABEL}", "$1", "{label}", "(.+)")')


def alert_rules() -> list[AlertRule]:
    """The server's health (runbook in docs/ingestion.md).

    A sync's failure is the batch's alert where the batch runs the connection (`BatchSyncFailed`, one per
    connection, components/lakehouse/batch.py); a connection on its own schedule (Airbyte's cron) has
    `AirbyteSyncFailed`, one per connection id, from its replication pods: a failed attempt fires while no newer
    attempt of the same connection is pending, running or succeeded (Airbyte retries an attempt, and the next
    scheduled job tries again).
    """
    namespace = f'namespace="{namespace_name(LAYER)}"'
    return [
        AlertRule(
            "AirbyteSyncFailed",
            sync_failed_expr(),
            "The newest sync attempt of Airbyte connection {{ $labels.connection_id }} failed and no newer one is "
            "pending, running or succeeded: its streams land nothing new in bronze until a sync succeeds.",
            duration="5m", severity="warning", runbooks="docs/ingestion.md",
        ),
        AlertRule(
            "AirbyteServerDown",
            f'kube_deployment_status_replicas_available{{{namespace},deployment="{SERVER_DEPLOYMENT}"}} < 1',
            "Airbyte's server is unavailable: no syncs are scheduled and the API refuses configuration.",
            duration="5m", severity="critical", runbooks="docs/ingestion.md",
        ),
    ]
