"""Where the metadata database's backups go, and how they get there (dev; RDS keeps its own snapshots in prod).

CloudNativePG's base backups and WAL archive go to a bucket of the lake kept for them, written only by the
`backups` identity, through the Barman Cloud plugin (CNPG-I) rather than the operator's in-tree
`spec.backup.barmanObjectStore` (deprecated since CloudNativePG 1.26, removed in 1.32;
docs/decisions/0023-cloudnative-pg-backup-plugin.md):

- the plugin's release (chart `plugin-barman-cloud`) runs beside the operator, in its namespace, as the plugin
  requires (https://cloudnative-pg.io/plugin-barman-cloud/docs/installation/); the operator finds it by its
  Service and calls it over gRPC with mutual TLS from the chart's own cert-manager certificates;
- an `ObjectStore` (barmancloud.cnpg.io/v1) in the cluster's namespace says where and how: bucket path, endpoint
  and the CA that verifies it, credentials, compression, and the retention policy (the plugin keeps it there,
  not on the `Cluster`);
- the `Cluster` names the plugin as its WAL archiver with that ObjectStore; the plugin adds a sidecar to each
  instance pod, which archives WAL and takes base backups;
- the daily `ScheduledBackup` asks for `method: plugin`.

The archive keeps its place: the plugin's server name defaults to the cluster's name as the in-tree one did, so
the ObjectStore's `destinationPath` equal to the old `barmanObjectStore.destinationPath` continues the same WAL
archive and reads the base backups already there (docs/upgrading.md).

Pure data: components/metadata/component.py declares the resources.
"""

from __future__ import annotations

from typing import Any

from components.kit.hardening import MEDIUM, SMALL
from components.kit.images import pinned_tag
from components.kit.release import Hardening, ProductRelease
from components.metadata.log_routes import CLUSTER_NAME
from components.monitoring.component import AlertRule
from components.storage.access import ServiceBucket, WorkloadAccount
from infra.model.naming import namespace_name

BACKUP_BUCKET = ServiceBucket("backups", "backups", "Database backups (PostgreSQL base backups and WAL).")
# On S3 the backups identity is a role of the cluster's service account (CloudNativePG names it after the Cluster):
# the plugin's sidecar runs barman-cloud, whose S3 client is boto3 (barman 3.19 barman/cloud_providers/aws_s3.py,
# `boto3.Session`), and botocore's default chain takes `AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE`
# (botocore/credentials.py `AssumeRoleWithWebIdentityProvider`) when the ObjectStore sets `inheritFromIAMRole`
# (cloudnative-pg/plugin-barman-cloud config/crd/bases/barmancloud.cnpg.io_objectstores.yaml@v0.13.0).
BACKUP_ACCOUNT = WorkloadAccount(
    BACKUP_BUCKET.writer, namespace_name("metadata"), CLUSTER_NAME,
    "Barman Cloud (boto3) in the plugin's sidecar, with the ObjectStore's inheritFromIAMRole",
)

# The plugin's name as CloudNativePG knows it (the `cnpg.io/pluginName` label of the chart's Service).
PLUGIN = "barman-cloud.cloudnative-pg.io"
PLUGIN_RELEASE = "plugin-barman-cloud"
PLUGIN_CHART = "plugin-barman-cloud"
# The chart's appVersion: the tag of both images, which the chart would otherwise default to.
PLUGIN_VERSION = "v0.13.0"
PLUGIN_REGISTRY = "ghcr.io"
PLUGIN_REPOSITORY = "cloudnative-pg/plugin-barman-cloud"
SIDECAR_REPOSITORY = "cloudnative-pg/plugin-barman-cloud-sidecar"
# The gRPC port the plugin serves the operator on (the chart's `service.port` and container port).
PLUGIN_PORT = 9090
# The plugin's layer: the operator's namespace, where the operator looks for plugins.
PLUGIN_LAYER = "system"

OBJECT_STORE = f"{CLUSTER_NAME}-backups"
CREDENTIALS_SECRET = f"{CLUSTER_NAME}-backups"
ACCESS_KEY_ID, SECRET_ACCESS_KEY = "ACCESS_KEY_ID", "ACCESS_SECRET_KEY"
# The stack CA in a Secret of the cluster's namespace: `endpointCA` selects a Secret key, read by the sidecar.
CA_SECRET = "platform-ca-bundle"
CA_KEY = "ca.crt"
COMPRESSION = "gzip"
# The ScheduledBackup's schedule (six fields: CloudNativePG's cron has seconds): a base backup daily at 02:00.
BASE_BACKUP_SCHEDULE = "0 0 2 * * *"
BASE_BACKUP_INTERVAL_HOURS = 24
# How late a base backup may be before it is an alert: the time one takes on a large database, with a margin.
BASE_BACKUP_GRACE_HOURS = 2
RUNBOOKS = "docs/backup-and-restore.md"

# The plugin's series, served by each instance's exporter (CloudNativePG collects a plugin's metrics into the
# instance's `/metrics`: pkg/management/postgres/metrics/collector.go `sendPluginMetrics` at v1.30.0, the
# operator's version, which adds no prefix and no label). Names from plugin-barman-cloud v0.13.0,
# internal/cnpgi/instance/metrics.go: the plugin's name with `.` and `-` as `_`, then the metric; the value is a
# Unix time, 0 while the ObjectStore's status has no recovery window for the server (no backup yet).
PLUGIN_METRIC_PREFIX = PLUGIN.replace(".", "_").replace("-", "_")
LAST_BACKUP = f"{PLUGIN_METRIC_PREFIX}_last_available_backup_timestamp"
LAST_FAILED_BACKUP = f"{PLUGIN_METRIC_PREFIX}_last_failed_backup_timestamp"
# The instance exporter's WAL archiver series (the operator's default monitoring queries, query `pg_stat_archiver`
# in config/manager/default-monitoring.yaml at v1.30.0, prefixed `cnpg_`): Unix times, -1 when never.
LAST_ARCHIVED = "cnpg_pg_stat_archiver_last_archived_time"
LAST_ARCHIVE_FAILURE = "cnpg_pg_stat_archiver_last_failed_time"


def plugin_release(replicas: int) -> ProductRelease:
    """The plugin's release: its CRD (ObjectStore), Deployment, Service and mTLS certificates, in the operator's
    namespace. Both images pinned to the chart's appVersion (and their locked digests)."""
    return ProductRelease(
        name=PLUGIN_RELEASE,
        chart=PLUGIN_CHART,
        layer=PLUGIN_LAYER,
        values={
            "fullnameOverride": PLUGIN_RELEASE,
            # Leader election picks one active replica; the Deployment's strategy is Recreate.
            "replicaCount": replicas,
            "crds": {"create": True},
            "image": {"registry": PLUGIN_REGISTRY, "repository": PLUGIN_REPOSITORY,
                      "tag": pinned_tag(f"{PLUGIN_REGISTRY}/{PLUGIN_REPOSITORY}", PLUGIN_VERSION)},
            "sidecarImage": {"registry": PLUGIN_REGISTRY, "repository": SIDECAR_REPOSITORY,
                             "tag": pinned_tag(f"{PLUGIN_REGISTRY}/{SIDECAR_REPOSITORY}", PLUGIN_VERSION)},
        },
        hardening=Hardening(resources=SMALL),
    )


def object_store_spec(destination: Any, endpoint: Any, retention_days: int,
                      inherit_role: bool = False) -> dict[str, Any]:
    """The ObjectStore's spec: the bucket path, the endpoint verified with the stack CA, the `backups` identity's
    keys (or, with `inherit_role`, the role of the cluster's service account: no key), gzip for WAL and base backups
    (the bucket's default encryption applies), and the retention policy."""
    credentials: dict[str, Any] = {"inheritFromIAMRole": True} if inherit_role else {
        "accessKeyId": {"name": CREDENTIALS_SECRET, "key": ACCESS_KEY_ID},
        "secretAccessKey": {"name": CREDENTIALS_SECRET, "key": SECRET_ACCESS_KEY},
    }
    return {
        "retentionPolicy": f"{retention_days}d",
        "configuration": {
            "destinationPath": destination,
            "endpointURL": endpoint,
            "endpointCA": {"name": CA_SECRET, "key": CA_KEY},
            "s3Credentials": credentials,
            "wal": {"compression": COMPRESSION},
            "data": {"compression": COMPRESSION},
        },
        # The sidecar runs barman-cloud in each instance pod: sized like the other platform sidecars.
        "instanceSidecarConfiguration": {"resources": MEDIUM.values()},
    }


def cluster_plugins(object_store: Any) -> list[dict[str, Any]]:
    """The Cluster's `plugins`: this plugin archives WAL, to the ObjectStore `object_store`."""
    return [{"name": PLUGIN, "isWALArchiver": True, "parameters": {"barmanObjectName": object_store}}]


def backup_alert_rules(layer: str = "metadata") -> list[AlertRule]:
    """The alerts that say the database cannot be brought back as far as docs/backup-and-restore.md promises: no
    base backup within its interval (or none at all, or no series to tell), the newest attempt failed, or WAL
    archiving failing (the recovery point grows with every minute it fails). Runbooks: docs/backup-and-restore.md."""
    where = f'namespace="{namespace_name(layer)}"'
    late_seconds = (BASE_BACKUP_INTERVAL_HOURS + BASE_BACKUP_GRACE_HOURS) * 3600
    cluster = {"cluster": CLUSTER_NAME}
    return [
        AlertRule(
            "PostgresBackupLate",
            f"time() - max by (namespace) ({LAST_BACKUP}{{{where}}}) > {late_seconds}"
            f" or absent({LAST_BACKUP}{{{where}}})",
            f"PostgreSQL cluster {CLUSTER_NAME} in {{{{ $labels.namespace }}}} has no base backup from the last "
            f"{BASE_BACKUP_INTERVAL_HOURS + BASE_BACKUP_GRACE_HOURS} h (schedule: daily), or no series says when "
            "its last one was.",
            # A first base backup of a large database may take a while after the schedule is created.
            duration="1h", labels=cluster, runbooks=RUNBOOKS,
        ),
        AlertRule(
            "PostgresBackupFailed",
            f"max by (namespace) ({LAST_FAILED_BACKUP}{{{where}}}) > max by (namespace) ({LAST_BACKUP}{{{where}}})",
            f"The newest base backup of PostgreSQL cluster {CLUSTER_NAME} in {{{{ $labels.namespace }}}} failed.",
            duration="5m", labels=cluster, runbooks=RUNBOOKS,
        ),
        AlertRule(
            "PostgresWalArchivingFailing",
            f"max by (namespace, pod) ({LAST_ARCHIVE_FAILURE}{{{where}}})"
            f" > max by (namespace, pod) ({LAST_ARCHIVED}{{{where}}})",
            f"WAL archiving of PostgreSQL cluster {CLUSTER_NAME} fails on {{{{ $labels.pod }}}} in "
            "{{ $labels.namespace }}: nothing written since the last archived segment can be restored.",
            duration="5m", severity="critical", labels=cluster, runbooks=RUNBOOKS,
        ),
    ]


def scheduled_backup_method() -> dict[str, Any]:
    """What a ScheduledBackup adds to take its base backups through the plugin."""
    return {"method": "plugin", "pluginConfiguration": {"name": PLUGIN}}


RECOVERY_SOURCE = "origin"


def recovery_cluster(source: dict[str, Any], name: str, object_store: str, server_name: str = CLUSTER_NAME,
                     target_time: str | None = None) -> dict[str, Any]:
    """A new `Cluster` bootstrapped from the object store through the plugin: the latest base backup of
    `server_name` (the source cluster's name, the plugin's default server name) in the ObjectStore `object_store`,
    then its WAL archive replayed to the end, or to `target_time` (RFC 3339) when given.

    `source` is the source Cluster's manifest (apiVersion, kind, metadata, spec as the plan declares it): the new
    cluster runs the same image, parameters, storage and resources, in the same namespace, with one instance. It
    archives its own WAL through the same ObjectStore under its own server name (`name`), so it never writes into
    the archive it recovers from. docs/backup-and-restore.md, "PostgreSQL in dev: recover a cluster"."""
    spec = source["spec"]
    recovery: dict[str, Any] = {"source": RECOVERY_SOURCE}
    if target_time is not None:
        recovery["recoveryTarget"] = {"targetTime": target_time}
    kept = {key: spec[key] for key in ("imageName", "postgresql", "storage", "resources") if key in spec}
    return {
        "apiVersion": source["apiVersion"],
        "kind": source["kind"],
        "metadata": {"name": name, "namespace": source["metadata"]["namespace"]},
        "spec": {
            "instances": 1,
            **kept,
            "bootstrap": {"recovery": recovery},
            "externalClusters": [{
                "name": RECOVERY_SOURCE,
                "plugin": {"name": PLUGIN, "parameters": {"barmanObjectName": object_store, "serverName": server_name}},
            }],
            "plugins": [{"name": PLUGIN, "isWALArchiver": True,
                         "parameters": {"barmanObjectName": object_store, "serverName": name}}],
        },
    }
