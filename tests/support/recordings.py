"""Run one layer component under the mocks with a hand-built ClusterContext, as the runtime would hand it over."""

from __future__ import annotations

from components.kit.cluster import ClusterContext
from infra.model.catalog import load_catalog
from infra.model.config import parse_stack_config, project_values
from infra.model.naming import LAYER_NAMESPACES, namespace_name
from infra.model.stackfiles import load_stack
from infra.offline.harness import Recording, run_program

TEST_CA_PEM = "-----BEGIN CERTIFICATE-----\nTEST\n-----END CERTIFICATE-----\n"
TEST_CA_FILE = "/home/deployer/.dataplatform/dev/ca.pem"


def cluster_context() -> ClusterContext:
    return ClusterContext(
        namespaces={layer: namespace_name(layer) for layer in LAYER_NAMESPACES},
        ca_pem=TEST_CA_PEM,
        ca_file=TEST_CA_FILE,
        issuer="platform-ca",
        services={"log-shipper": "fluent-bit.dp-logs.svc.cluster.local:8443"},
    )


def record_metadata(stack: str, preview: bool = False) -> Recording:
    from components.metadata.component import BackupTarget, MetadataDatabase
    from components.platform import DATABASE_LOGINS

    settings = load_stack(stack)
    config = parse_stack_config(project_values(settings.config), stack)

    def program() -> None:
        backups = BackupTarget("dataplatform-dev-backups", "https://minio.dp-storage.svc.cluster.local:9000",
                               "backups-key", "backups-secret")
        in_cluster = config.metadata.backend == "cloudnative-pg"
        MetadataDatabase("metadata", config.metadata, load_catalog(), cluster_context(), config.identity,
                         config.retention, logins=DATABASE_LOGINS, backups=backups if in_cluster else None,
                         event_emails=() if in_cluster else config.rds_event_emails)

    return run_program(program, settings, preview=preview)


def record_logs(stack: str, preview: bool = False, overrides: dict | None = None) -> Recording:
    """The logs layer alone, its snapshots going where the stack's object store is (MinIO keys or the IRSA role);
    `overrides` as StackSettings.with_overrides takes them."""
    from components.logs.component import LogIndices
    from components.logs.snapshots import SnapshotTarget
    from infra.model.naming import bucket_name

    settings = load_stack(stack)
    if overrides:
        settings = settings.with_overrides(overrides)
    config = parse_stack_config(project_values(settings.config), stack)
    store = config.object_store
    bucket = bucket_name(config.name_prefix, stack, "backups")
    if store.server is not None:
        snapshots = SnapshotTarget(bucket, store.region, store.server,
                                   credentials={"access_key_id": "snapshots", "secret_access_key": "key"})
    else:
        snapshots = SnapshotTarget(bucket, store.region, role_arn="arn:aws:iam::111122223333:role/snapshots")
    return run_program(
        lambda: LogIndices("logs", config.logs, cluster_context(), config.identity, config.retention, snapshots),
        settings, preview=preview)
