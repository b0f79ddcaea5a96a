"""What the lakehouse layer renders, as plain data: Dremio's configuration files and workloads, the catalog's
grants, the backup job, Dremio's alerts and the query-log shipping (the batch is components/lakehouse/batch.py).
Pure functions, no resources: `components/lakehouse/component.py` declares them, the golden tests pin them
(tests/golden/lakehouse/<stack>.yaml).

Dremio runs from manifests rendered here rather than from a chart (docs/decisions/0011-dremio-workloads.md):
a master coordinator with embedded ZooKeeper and a StatefulSet of executors, restricted pod security, TLS on
web (9047) and Arrow Flight (32010) from a cert-manager keystore, ClusterIP services only, the distributed store
in the `dremio-store` bucket with the `dremio` identity's keys in a Secret, and `queries.json` (plus `audit.json`
on Enterprise) written to the `dremio-log` volume that Fluent Bit tails into the audit index
(components/logs/shipping.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from components.kit.cluster import server_certificate, service_dns_names
from components.kit.hardening import SMALL, Resources, container_security, pod_security
from components.kit.images import pinned
from components.lakehouse.config import DremioBackupSettings
from components.lakehouse.log_routes import QUERY_SECONDS
from components.metadata.access import DatabaseLogin
from components.monitoring.component import AlertRule
from components.storage.access import PrefixGrant, ServiceBucket
from infra.model import naming
from infra.model.catalog import FLOW_LAYERS, Catalog, Role
from infra.model.naming import namespace_name, service_host
from infra.model.schedules import kubernetes_cron

LAYER = "lakehouse"
COORDINATOR = "dremio-coordinator"
EXECUTOR = "dremio-executor"
CLIENT_SERVICE = "dremio-client"
CLUSTER_SERVICE = "dremio-cluster-pod"
CONFIG_MAP = "dremio-config"
STORE_SECRET = "dremio-store"
TLS_SECRET = "dremio-tls"
KEYSTORE_SECRET = "dremio-keystore-password"
KEYSTORE_KEY = "password"
WEB_PORT, FLIGHT_PORT, JDBC_PORT, FABRIC_PORT, ZOOKEEPER_PORT = 9047, 32010, 31010, 45678, 2181
DREMIO_UID = 999  # the `dremio` user of Dremio's images
LOG_VOLUME = "dremio-log"  # Fluent Bit finds the query log by this volume name on each node
DREMIO_HOME = "/opt/dremio"
IMAGES: dict[str, str] = {"community": "dremio/dremio-oss", "enterprise": "quay.io/dremio/dremio-enterprise"}
RUNNER = "dbt-runner"  # the platform image the batch's and the backup's pods run
# Logins to the metadata PostgreSQL, as the catalog services `dremio` (its `metadata` source) and `dbt` (its run
# history).
DREMIO_LOGIN = DatabaseLogin("dremio")
DBT_LOGIN = DatabaseLogin("dbt")
# Dremio's distributed store, written only by its `dremio` identity.
STORE_BUCKET = ServiceBucket("dremio-store", "dremio",
                             "Dremio's distributed store (reflections, uploads, job results).")
# Where the jobs of this layer (the batch, the backup) mount the stack's CA.
RUNNER_CA_DIR = "/etc/dataplatform/ca"
SPACE_FOLDERS = (naming.DREMIO_MARTS_FOLDER,)
# Source names in Dremio; dbt reads bronze through the first and writes its tables through the second.
LAKE_SOURCE = naming.DREMIO_LAKE_SOURCE
LAKE_WRITE_SOURCE = naming.DREMIO_LAKE_WRITE_SOURCE
METADATA_SOURCE = "metadata"
# Privileges on a space (Dremio's SPACE grant type), by access.
SPACE_READ = ("SELECT", "VIEW_REFLECTION")
SPACE_WRITE = ("ALTER", "ALTER_REFLECTION", "MODIFY", "SELECT", "VIEW_REFLECTION")
# Dremio's scheduled backup of its KV store: a CronJob asks the coordinator for it (BackupResource), and the
# coordinator writes it through its distributed store's S3 file system under `dremio/` of the backups bucket, which
# the `dremio` identity may write there and nowhere else of that bucket
# (docs/decisions/0035-dremio-backup-by-the-coordinator.md).
BACKUP = "dremio-backup"
BACKUP_SECRET = "dremio-backup"
BACKUP_SCRIPT_CONFIG_MAP = "dremio-backup-script"
BACKUP_SCRIPT_FILE = "dremio_backup.py"
BACKUP_SCRIPT_SOURCE = Path(__file__).resolve().parent / BACKUP_SCRIPT_FILE
BACKUP_SCRIPT_DIR = "/opt/dremio-backup"
BACKUP_PREFIX = "dremio/"
# A Job that has not finished in an hour is stopped; the request gives up a little earlier so the script can report.
BACKUP_DEADLINE_SECONDS = 3600
BACKUP_REQUEST_TIMEOUT_SECONDS = 3300
# Buckets (seconds) of the query-duration histogram the log shipper derives from queries.json
# (components/logs/shipping.py); the slow-query threshold is one of them.
QUERY_BUCKETS = QUERY_SECONDS.buckets


@dataclass(frozen=True)
class DremioShape:
    """Everything that sizes and names the Dremio workloads of one stack."""

    edition: Literal["community", "enterprise"]
    version: str
    coordinator: Resources
    executor: Resources
    executors: int
    volume_gib: int
    storage_class: str | None
    store_bucket: str
    store_endpoint: str | None
    """`host:port` of MinIO (dev); None for AWS S3."""
    store_region: str
    rds_ca_image: str | None = None
    """prod: the platform image that ships the RDS CA bundle (the metadata layer's `migrations` image)."""
    rds_ca_file: str | None = None
    """prod: the bundle's path in that image (`metadata.caBundleFile`); None where the metadata server is in-cluster."""

    @property
    def image(self) -> str:
        return pinned(f"{IMAGES[self.edition]}:{self.version}")


# ---- configuration files ----------------------------------------------------------------------------------


def dremio_conf(shape: DremioShape) -> str:
    """dremio.conf (HOCON) shared by every node; the keystore password comes from the environment."""
    keystore = f"{DREMIO_HOME}/tls/keystore.p12"
    ssl = "\n".join(
        f"services.{prefix}.ssl.{key}: {value}"
        for prefix in ("coordinator.web", "flight")
        for key, value in (("enabled", "true"), ("auto-certificate.enabled", "false"), ("keyStoreType", '"PKCS12"'),
                           ("keyStore", f'"{keystore}"'), ("keyStorePassword", "${?DREMIO_KEYSTORE_PASSWORD}"))
    )
    return f"""paths: {{
  local: "{DREMIO_HOME}/data"
  results: "pdfs://"${{paths.local}}"/results"
  dist: "dremioS3:///{shape.store_bucket}/dremio"
}}

zookeeper: "{service_host(f"{COORDINATOR}-0.{CLUSTER_SERVICE}", LAYER)}:{ZOOKEEPER_PORT}"

services.coordinator.web.port: {WEB_PORT}
services.coordinator.client-endpoint.port: {JDBC_PORT}
services.flight.port: {FLIGHT_PORT}
services.flight.enabled: true
services.fabric.port: {FABRIC_PORT}
{ssl}
"""


def core_site(shape: DremioShape, access_key: str, secret_key: str) -> str:
    """core-site.xml of the distributed store (goes to a Secret: it holds the `dremio` identity's keys)."""
    properties = [
        ("fs.dremioS3.impl", "com.dremio.plugins.s3.store.S3FileSystem"),
        ("fs.s3a.aws.credentials.provider", "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"),
        ("fs.s3a.access.key", access_key),
        ("fs.s3a.secret.key", secret_key),
        ("fs.s3a.connection.ssl.enabled", "true"),
    ]
    if shape.store_endpoint is not None:
        properties += [("fs.s3a.endpoint", shape.store_endpoint), ("fs.s3a.path.style.access", "true"),
                       ("dremio.s3.compat", "true")]
    else:
        properties.append(("fs.s3a.endpoint.region", shape.store_region))
    body = "".join(f"  <property><name>{name}</name><value>{value}</value></property>\n"
                   for name, value in properties)
    return f'<?xml version="1.0"?>\n<configuration>\n{body}</configuration>\n'


# ---- workloads --------------------------------------------------------------------------------------------


def _labels(role: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "dremio", "app.kubernetes.io/component": role,
            "app.kubernetes.io/part-of": "dataplatform"}


def _java_options(role: Literal["coordinator", "executor"]) -> str:
    coordinator = role == "coordinator"
    flags = {
        "services.coordinator.enabled": coordinator,
        "services.coordinator.master.enabled": coordinator,
        "services.coordinator.master.embedded-zookeeper.enabled": coordinator,
        "services.executor.enabled": not coordinator,
    }
    options = [f"-D{key}={str(value).lower()}" for key, value in flags.items()]
    options.append(f"-Djavax.net.ssl.trustStore={DREMIO_HOME}/truststore/cacerts")
    return " ".join(options)


def _memory_mb(resources: Resources) -> int:
    value = resources.memory
    number = int(value[:-2])
    return number * 1024 if value.endswith("Gi") else number


TRUSTSTORE = f"{DREMIO_HOME}/truststore"
RDS_CA_PREFIX = "rds-ca-"  # the RDS bundle's certificates, one file and one truststore alias each


def truststore_script(rds: bool) -> str:
    """The truststore init container's shell: the JVM's own roots plus the stack's CA (MinIO, the in-cluster
    PostgreSQL and Elasticsearch certificates chain to it; AWS endpoints keep verifying against the public roots),
    and with `rds` every certificate of the RDS bundle, which the `rds-ca` container has split into one PEM file per
    certificate: `keytool -importcert` reads only the first certificate of a file, so a bundle imported whole would
    trust one CA of many. Any failing step (no split files, a bad certificate) fails the pod, so Dremio never starts
    with a partial truststore."""
    store = f"-keystore {TRUSTSTORE}/cacerts -storepass changeit"
    script = (f"cp $JAVA_HOME/lib/security/cacerts {TRUSTSTORE}/cacerts && chmod u+w {TRUSTSTORE}/cacerts && "
              f"keytool -importcert -noprompt -alias platform-ca -file {DREMIO_HOME}/tls/ca.crt {store}")
    if rds:
        script += (f' && for part in {TRUSTSTORE}/{RDS_CA_PREFIX}*.pem; do alias="${{part##*/}}" && '
                   f'keytool -importcert -noprompt -alias "${{alias%.pem}}" -file "$part" {store} && '
                   'rm "$part" || exit 1; done')
    return script


def _init_resources() -> dict[str, Any]:
    return {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}


def _truststore_containers(shape: DremioShape, security: dict[str, Any]) -> list[dict[str, Any]]:
    """Init containers that build the JVM truststore in the `truststore` volume before Dremio starts. Where the
    metadata server is RDS (prod), `rds-ca` first splits the RDS CA bundle shipped in the platform's `migrations`
    image (the image the metadata layer's verify-full Job already trusts RDS with) into one file per certificate
    with GNU csplit (coreutils, in that Debian image), so the import needs nothing from Dremio's image but `sh` and
    `keytool`."""
    containers = []
    rds = shape.rds_ca_file is not None
    if rds:
        if not shape.rds_ca_image:
            raise ValueError("an RDS CA bundle path needs the image that ships it (`rds_ca_image`)")
        containers.append({
            "name": "rds-ca", "image": shape.rds_ca_image,
            "command": ["csplit", "--quiet", "--elide-empty-files", f"--prefix={TRUSTSTORE}/{RDS_CA_PREFIX}",
                        "--suffix-format=%03d.pem", shape.rds_ca_file, "/-----BEGIN CERTIFICATE-----/", "{*}"],
            "securityContext": container_security(run_as_user=DREMIO_UID), "resources": _init_resources(),
            "volumeMounts": [{"name": "truststore", "mountPath": TRUSTSTORE}],
        })
    containers.append({
        "name": "truststore", "image": shape.image, "command": ["sh", "-c", truststore_script(rds)],
        "securityContext": security, "resources": _init_resources(),
        "volumeMounts": [{"name": "tls", "mountPath": f"{DREMIO_HOME}/tls", "readOnly": True},
                         {"name": "truststore", "mountPath": TRUSTSTORE}],
    })
    return containers


def _statefulset(shape: DremioShape, role: Literal["coordinator", "executor"]) -> dict[str, Any]:
    coordinator = role == "coordinator"
    name = COORDINATOR if coordinator else EXECUTOR
    resources = shape.coordinator if coordinator else shape.executor
    memory_mb = int(_memory_mb(resources) * 0.85)  # headroom for the JVM's off-heap beyond Dremio's budget
    mounts = [
        {"name": "data", "mountPath": f"{DREMIO_HOME}/data"},
        {"name": "config", "mountPath": f"{DREMIO_HOME}/conf", "readOnly": True},
        {"name": "tls", "mountPath": f"{DREMIO_HOME}/tls", "readOnly": True},
        {"name": "truststore", "mountPath": f"{DREMIO_HOME}/truststore", "readOnly": True},
        {"name": LOG_VOLUME, "mountPath": f"{DREMIO_HOME}/log"},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    ports = [{"name": "fabric", "containerPort": FABRIC_PORT}]
    if coordinator:
        ports += [{"name": "web", "containerPort": WEB_PORT}, {"name": "flight", "containerPort": FLIGHT_PORT},
                  {"name": "jdbc", "containerPort": JDBC_PORT},
                  {"name": "zookeeper", "containerPort": ZOOKEEPER_PORT}]
    env = [
        {"name": "DREMIO_MAX_MEMORY_SIZE_MB", "value": str(memory_mb)},
        {"name": "DREMIO_LOG_DIR", "value": f"{DREMIO_HOME}/log"},
        {"name": "DREMIO_JAVA_SERVER_EXTRA_OPTS", "value": _java_options(role)},
        {"name": "DREMIO_KEYSTORE_PASSWORD",
         "valueFrom": {"secretKeyRef": {"name": KEYSTORE_SECRET, "key": KEYSTORE_KEY}}},
    ]
    probe = ({"httpGet": {"path": "/", "port": WEB_PORT, "scheme": "HTTPS"}, "periodSeconds": 10}
             if coordinator else {"tcpSocket": {"port": FABRIC_PORT}, "periodSeconds": 10})
    security = container_security(run_as_user=DREMIO_UID)
    claim: dict[str, Any] = {"accessModes": ["ReadWriteOnce"],
                             "resources": {"requests": {"storage": f"{shape.volume_gib}Gi"}}}
    if shape.storage_class:
        claim["storageClassName"] = shape.storage_class
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": namespace_name(LAYER), "labels": _labels(role)},
        "spec": {
            "serviceName": CLUSTER_SERVICE,
            "replicas": 1 if coordinator else shape.executors,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": _labels(role)},
            "template": {
                "metadata": {"labels": _labels(role)},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security(run_as_user=DREMIO_UID, fs_group=DREMIO_UID),
                    "terminationGracePeriodSeconds": 120,
                    "initContainers": _truststore_containers(shape, security),
                    "containers": [{
                        "name": "dremio", "image": shape.image,
                        "command": [f"{DREMIO_HOME}/bin/dremio", "start-fg"],
                        "env": env, "ports": ports, "resources": resources.values(), "securityContext": security,
                        "readinessProbe": probe, "livenessProbe": {**probe, "initialDelaySeconds": 120,
                                                                   "failureThreshold": 6},
                        "volumeMounts": mounts,
                    }],
                    "volumes": [
                        {"name": "config", "projected": {"sources": [
                            {"configMap": {"name": CONFIG_MAP}},
                            {"secret": {"name": STORE_SECRET, "items": [{"key": "core-site.xml",
                                                                         "path": "core-site.xml"}]}}]}},
                        {"name": "tls", "secret": {"secretName": TLS_SECRET}},
                        {"name": "truststore", "emptyDir": {}},
                        {"name": LOG_VOLUME, "emptyDir": {}},
                        {"name": "tmp", "emptyDir": {}},
                    ],
                },
            },
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": claim}],
        },
    }


def services() -> list[dict[str, Any]]:
    """The consumers' service (web/REST, Flight, JDBC) and the headless one the nodes find each other by."""
    client_ports = [{"name": "web", "port": WEB_PORT, "targetPort": "web"},
                    {"name": "flight", "port": FLIGHT_PORT, "targetPort": "flight"},
                    {"name": "jdbc", "port": JDBC_PORT, "targetPort": "jdbc"}]
    return [
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": CLIENT_SERVICE, "namespace": namespace_name(LAYER), "labels": _labels("coordinator")},
         "spec": {"type": "ClusterIP", "selector": _labels("coordinator"), "ports": client_ports}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": CLUSTER_SERVICE, "namespace": namespace_name(LAYER), "labels": _labels("cluster")},
         "spec": {"type": "ClusterIP", "clusterIP": "None", "selector": {"app.kubernetes.io/name": "dremio"},
                  "publishNotReadyAddresses": True,
                  "ports": [{"name": "fabric", "port": FABRIC_PORT},
                            {"name": "zookeeper", "port": ZOOKEEPER_PORT}]}},
    ]


def workloads(shape: DremioShape) -> list[dict[str, Any]]:
    return [_statefulset(shape, "coordinator"), _statefulset(shape, "executor"), *services()]


def certificate(issuer: str) -> dict[str, Any]:
    """The coordinator's certificate, also written as a PKCS#12 keystore (and truststore) for Dremio."""
    return server_certificate(
        TLS_SECRET,
        service_dns_names(CLIENT_SERVICE, LAYER),
        issuer,
        private_key=("RSA", 2048),
        keystores={"pkcs12": {"create": True, "profile": "Modern2023",
                              "passwordSecretRef": {"name": KEYSTORE_SECRET, "key": KEYSTORE_KEY}}},
    )


# ---- grants from the catalog ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpaceGrant:
    layer: str
    grantee_type: Literal["ROLE", "USER"]
    grantee: str
    privileges: tuple[str, ...]


def dremio_users(catalog: Catalog) -> dict[str, str]:
    """Catalog role -> the service that queries Dremio as it (dbt as `transformation`, superset as `bi`)."""
    return {service.role: service.name for service in catalog.services
            if service.role and "dremio" in service.uses}


def space_grants(catalog: Catalog) -> list[SpaceGrant]:
    """Each Dremio-facing role's access to each layer's space, least privilege: SELECT where it reads, write
    where it writes, nothing elsewhere. A role a service acts as is granted to that service's user; roles no
    service acts as are people's roles (analyst, data_engineer) and are granted as Dremio roles. Roles whose
    service never queries Dremio (ingestion, the query engine itself) get nothing."""
    users = dremio_users(catalog)
    served = {service.role for service in catalog.services if service.role}
    grants = []
    for role in catalog.roles:
        if role.name in users:
            grantee_type, grantee = "USER", users[role.name]
        elif role.name not in served:
            grantee_type, grantee = "ROLE", role.name
        else:
            continue
        for layer in FLOW_LAYERS:
            privileges = _privileges(role, layer)
            if privileges:
                grants.append(SpaceGrant(layer, grantee_type, grantee, privileges))
    return grants


def _privileges(role: Role, layer: str) -> tuple[str, ...]:
    if layer in role.writes:
        return SPACE_WRITE
    if layer in role.reads:
        return SPACE_READ
    return ()


# What dbt may do on the write-enabled lake source (its CTAS and DML over silver and gold).
SOURCE_WRITE = ("ALTER", "CREATE_TABLE", "DELETE", "DROP", "INSERT", "SELECT", "TRUNCATE", "UPDATE")


def source_grants(catalog: Catalog) -> dict[str, list[dict[str, Any]]]:
    """The Grants bodies on the lake's two sources: only the transformation's user (dbt) reads the raw lake source
    and writes through the write-enabled one; everyone else reaches data through the layer spaces."""
    dbt = dremio_users(catalog)["transformation"]
    return {source: [{"granteeType": "USER", "name": dbt, "privileges": list(privileges)}]
            for source, privileges in ((LAKE_SOURCE, ("SELECT",)), (LAKE_WRITE_SOURCE, SOURCE_WRITE))}


def grants_by_layer(grants: list[SpaceGrant]) -> dict[str, list[dict[str, Any]]]:
    """The Grants resources' bodies: one per space."""
    found: dict[str, list[dict[str, Any]]] = {}
    for grant in grants:
        found.setdefault(grant.layer, []).append(
            {"granteeType": grant.grantee_type, "name": grant.grantee, "privileges": list(grant.privileges)})
    return found


# ---- Dremio's backup ---------------------------------------------------------------------------------------


def backup_dir(backups_bucket: str) -> str:
    """Where the coordinator writes its backups: the backups bucket's `dremio/` prefix through the distributed
    store's file system (`fs.dremioS3.impl` in core-site.xml, with the `dremio` identity's keys)."""
    return f"dremioS3:///{backups_bucket}/{BACKUP_PREFIX.rstrip('/')}"


def backup_grant(settings: DremioBackupSettings) -> PrefixGrant:
    """The `dremio` identity's write access to `dremio/` of the backups bucket, which expires the backups after the
    retention (components/storage/access.py)."""
    return PrefixGrant(naming.BACKUPS_BUCKET_ROLE, BACKUP_PREFIX, STORE_BUCKET.writer,
                       "Dremio's coordinator writes its KV store backups here.", settings.retention_days)


def backup_script() -> str:
    """The backup job's script, as the ConfigMap carries it."""
    return BACKUP_SCRIPT_SOURCE.read_text()


def backup_environment(backups_bucket: str) -> list[dict[str, Any]]:
    """The script's variables: the coordinator's URL, the CA, where to write, and the administrator's login from the
    job's Secret."""
    plain = {"DREMIO_URL": f"https://{service_host(CLIENT_SERVICE, LAYER)}:{WEB_PORT}",
             "DREMIO_CA_FILE": f"{RUNNER_CA_DIR}/ca.crt", "BACKUP_DIR": backup_dir(backups_bucket),
             "REQUEST_TIMEOUT_SECONDS": str(BACKUP_REQUEST_TIMEOUT_SECONDS)}
    return [*({"name": key, "value": value} for key, value in sorted(plain.items())),
            *({"name": name, "valueFrom": {"secretKeyRef": {"name": BACKUP_SECRET, "key": key}}}
              for name, key in (("DREMIO_USERNAME", "username"), ("DREMIO_PASSWORD", "password")))]


def backup_pod(image: str, backups_bucket: str) -> dict[str, Any]:
    """The backup Job's pod: the script from its ConfigMap, run by the runner image's Python, restricted security,
    no service account token (it calls only Dremio)."""
    return {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": pod_security(),
        "containers": [{
            "name": BACKUP, "image": image, "command": ["python", f"{BACKUP_SCRIPT_DIR}/{BACKUP_SCRIPT_FILE}"],
            "env": backup_environment(backups_bucket), "resources": SMALL.values(),
            "securityContext": container_security(),
            "volumeMounts": [{"name": "ca", "mountPath": RUNNER_CA_DIR, "readOnly": True},
                             {"name": "script", "mountPath": BACKUP_SCRIPT_DIR, "readOnly": True},
                             {"name": "tmp", "mountPath": "/tmp"}],
        }],
        "volumes": [{"name": "ca", "secret": {"secretName": BACKUP_SECRET, "items": [{"key": "ca.crt",
                                                                                    "path": "ca.crt"}]}},
                    {"name": "script", "configMap": {"name": BACKUP_SCRIPT_CONFIG_MAP}},
                    {"name": "tmp", "emptyDir": {}}],
    }


def backup_cronjob_spec(settings: DremioBackupSettings, image: str, backups_bucket: str) -> dict[str, Any]:
    """The CronJob's spec: one backup at a time (a late one is skipped, not stacked), stopped after an hour, one
    attempt (a failed backup is retried at the next schedule, and the failure stays visible until then)."""
    labels = {"app.kubernetes.io/name": BACKUP, "app.kubernetes.io/part-of": "dataplatform"}
    return {
        "schedule": kubernetes_cron(settings.schedule),
        "timeZone": "Etc/UTC",
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 600,
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 3,
        "jobTemplate": {"metadata": {"labels": labels}, "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": BACKUP_DEADLINE_SECONDS,
            "template": {"metadata": {"labels": labels}, "spec": backup_pod(image, backups_bucket)},
        }},
    }


# ---- alerts -----------------------------------------------------------------------------------------------


RUNBOOKS = "docs/lakehouse.md"


def alert_rules(slow_query_seconds: int) -> list[AlertRule]:
    """Dremio's alerts (the batch's are components/lakehouse/batch.py's)."""
    namespace = f'namespace="{namespace_name(LAYER)}"'
    # Fluent Bit prints bucket bounds as floats (`le="30.0"`), and Prometheus 3 stores a classic histogram's `le`
    # that way whatever the exporter printed.
    histogram, bound = QUERY_SECONDS.series, f"{float(slow_query_seconds):.1f}"
    rules = [
        AlertRule(
            "DremioSlowQueries",
            f"sum(increase({histogram}_count[10m])) - "
            f'sum(increase({histogram}_bucket{{le="{bound}"}}[10m])) > 0',
            f"Dremio ran queries slower than {slow_query_seconds}s in the last 10 minutes.",
            duration="0m",
        ),
        AlertRule(
            "DremioCoordinatorDown",
            f'kube_statefulset_status_replicas_ready{{{namespace},statefulset="{COORDINATOR}"}} < 1',
            "The Dremio coordinator is not ready: no queries, no dbt runs, no dashboards.",
            duration="5m", severity="critical",
        ),
        AlertRule(
            "DremioExecutorsDegraded",
            f'kube_statefulset_status_replicas_ready{{{namespace},statefulset="{EXECUTOR}"}} '
            f'< kube_statefulset_replicas{{{namespace},statefulset="{EXECUTOR}"}}',
            "Fewer Dremio executors are ready than declared; queries slow down or fail.",
            duration="10m",
        ),
    ]
    return [replace(rule, runbooks=RUNBOOKS) for rule in rules]


# How late a backup may be beyond its interval before it is an alert (a large KV store takes a while).
BACKUP_GRACE_MINUTES = 120
BACKUP_RUNBOOKS = "docs/backup-and-restore.md"


def backup_alert_rules(interval_minutes: int) -> list[AlertRule]:
    """The alerts that say Dremio's state cannot be brought back as far as its schedule promises: no successful
    backup within the interval plus a grace (also before the first ever: then counted from the CronJob's
    creation), and a backup Job that failed after the last success. kube-state-metrics' CronJob and Job series
    (kubernetes/kube-state-metrics/docs/cronjob-metrics.md and its Job page: `kube_cronjob_created`,
    `kube_cronjob_status_last_successful_time`, `kube_job_created`, `kube_job_status_failed`). A failed Job stays
    listed (`failedJobsHistoryLimit`), so a failure counts only while it is newer than the last success."""
    where = f'namespace="{namespace_name(LAYER)}"'
    cronjob = f'{where},cronjob="{BACKUP}"'
    jobs = f'{where},job_name=~"{BACKUP}-.*"'
    late = (interval_minutes + BACKUP_GRACE_MINUTES) * 60
    last_success = f"max by (namespace) (kube_cronjob_status_last_successful_time{{{cronjob}}})"
    newest_failure = (f"max by (namespace) (max by (namespace, job_name) (kube_job_created{{{jobs}}}) "
                      f"* on (namespace, job_name) (max by (namespace, job_name) (kube_job_status_failed{{{jobs}}}) "
                      "> bool 0))")
    hours = (interval_minutes + BACKUP_GRACE_MINUTES) / 60
    rules = [
        AlertRule(
            "DremioBackupLate",
            f"time() - {last_success} > {late}"
            f" or (time() - max by (namespace) (kube_cronjob_created{{{cronjob}}}) > {late}"
            f" unless on (namespace) {last_success})",
            f"Dremio's KV store in {{{{ $labels.namespace }}}} has no successful backup from the last {hours:g} h "
            f"(CronJob {BACKUP}).",
            duration="10m",
        ),
        AlertRule(
            "DremioBackupFailed",
            f"{newest_failure} > on (namespace) {last_success}"
            f" or ({newest_failure} > 0 unless on (namespace) {last_success})",
            f"The newest Dremio backup Job in {{{{ $labels.namespace }}}} failed (CronJob {BACKUP}); its log says "
            "why.",
            duration="0m",
        ),
    ]
    return [replace(rule, runbooks=BACKUP_RUNBOOKS) for rule in rules]
