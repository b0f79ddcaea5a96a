"""The metric names each exporter the platform scrapes serves, at the version the platform pins, with where the name
is defined: what alert rules, recording rules and dashboard panels may select.

    known = metric_sources()                  # metric name -> the `Exporter` entry that serves it
    INVENTORY                                 # every entry, in the order below

A name not listed here must be a recording rule of the plan (`RecordingRule`) or a series the log shipper derives
from logs (`LogMetric` in components/<product>/log_routes.py); tests/components/test_metric_inventory.py parses every
selector of every rule and panel of both plans with a PromQL parser and fails, naming the rule or panel and this
file, for any other name. To add a name: find the entry of its exporter below (or add one, with the exporter's
version pin and the file that defines the name at that version, as `owner/repo/path@tag`), and add the name to the
`metrics` of the source that defines it.

The lists were read from the cited files at the cited tags (kube-state-metrics' per-object docs tables, the Go
sources' metric descriptors, CloudNativePG's default monitoring queries as `cnpg_<query>_<column>` for every
GAUGE/COUNTER column); they hold every name of the object families the platform watches, not only those in use.
kube-state-metrics serves `kube_<object>_labels` and `_annotations` only for the labels and annotations its
allow-lists name (`--metric-labels-allowlist`, `--metric-annotations-allowlist`).
"""

from __future__ import annotations

from dataclasses import dataclass

KSM_TAG = "v2.20.0"  # components/runtime/values.py KUBE_STATE_METRICS
KSM_DOCS = f"kubernetes/kube-state-metrics/docs/metrics/{{}}-metrics.md@{KSM_TAG}"


@dataclass(frozen=True)
class Source:
    """One file that defines metric names, and the names it defines."""

    cited: str
    """`owner/repo/path@tag` (or `@<commit>` where the vendor has no tag for what is deployed)."""
    metrics: tuple[str, ...]


@dataclass(frozen=True)
class Exporter:
    """One exporter: what serves the series, at which version, and how Prometheus reaches it."""

    name: str
    version: str
    pinned: str
    """Where the platform fixes that version."""
    scraped: str
    """How the series reach Prometheus: the plan's ServiceMonitor/PodMonitor names, or the chart that scrapes them."""
    monitors: tuple[str, ...]
    """Names of the plan's ServiceMonitors/PodMonitors that scrape it; empty when the Prometheus chart itself does
    (kube-state-metrics, the kubelet) or the series is Prometheus's own."""
    sources: tuple[Source, ...]
    otherwise: str = ""
    """Where a plan declares none of `monitors`, who is expected to scrape the exporter instead ("" : nobody, and a
    plan without the monitors has none of its series)."""

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(name for source in self.sources for name in source.metrics)


def _split(text: str) -> tuple[str, ...]:
    return tuple(text.split())


KUBE_STATE_METRICS = Exporter(
    name="kube-state-metrics",
    version=KSM_TAG,
    pinned="components/runtime/values.py KUBE_STATE_METRICS (kube-prometheus-stack 88.5.3's subchart 8.4.0)",
    scraped="kube-prometheus-stack's own ServiceMonitor (`honorLabels: true`: the objects' `namespace` is kept)",
    monitors=(),
    sources=(
        Source(KSM_DOCS.format("workload/cronjob"), _split("""
            kube_cronjob_annotations kube_cronjob_created kube_cronjob_info kube_cronjob_labels
            kube_cronjob_metadata_resource_version kube_cronjob_next_schedule_time kube_cronjob_schedule_invalid
            kube_cronjob_spec_failed_job_history_limit kube_cronjob_spec_starting_deadline_seconds
            kube_cronjob_spec_successful_job_history_limit kube_cronjob_spec_suspend kube_cronjob_status_active
            kube_cronjob_status_last_schedule_time kube_cronjob_status_last_successful_time""")),
        Source(KSM_DOCS.format("workload/daemonset"), _split("""
            kube_daemonset_annotations kube_daemonset_created kube_daemonset_deletion_timestamp kube_daemonset_labels
            kube_daemonset_metadata_generation kube_daemonset_status_current_number_scheduled
            kube_daemonset_status_desired_number_scheduled kube_daemonset_status_number_available
            kube_daemonset_status_number_misscheduled kube_daemonset_status_number_ready
            kube_daemonset_status_number_unavailable kube_daemonset_status_observed_generation
            kube_daemonset_status_updated_number_scheduled""")),
        Source(KSM_DOCS.format("workload/deployment"), _split("""
            kube_deployment_annotations kube_deployment_created kube_deployment_deletion_timestamp
            kube_deployment_labels kube_deployment_metadata_generation kube_deployment_owner kube_deployment_spec_paused
            kube_deployment_spec_replicas kube_deployment_spec_strategy_rollingupdate_max_surge
            kube_deployment_spec_strategy_rollingupdate_max_unavailable kube_deployment_status_condition
            kube_deployment_status_observed_generation kube_deployment_status_replicas
            kube_deployment_status_replicas_available kube_deployment_status_replicas_ready
            kube_deployment_status_replicas_unavailable kube_deployment_status_replicas_updated
            kube_deployment_status_terminating_replicas""")),
        Source(KSM_DOCS.format("workload/job"), _split("""
            kube_job_annotations kube_job_complete kube_job_created kube_job_failed kube_job_info kube_job_labels
            kube_job_owner kube_job_spec_active_deadline_seconds kube_job_spec_completions kube_job_spec_parallelism
            kube_job_status_active kube_job_status_completion_time kube_job_status_failed kube_job_status_ready
            kube_job_status_start_time kube_job_status_succeeded kube_job_status_suspended""")),
        Source(KSM_DOCS.format("workload/pod"), _split("""
            kube_pod_annotations kube_pod_completion_time kube_pod_container_info kube_pod_container_resource_limits
            kube_pod_container_resource_requests kube_pod_container_state_started
            kube_pod_container_status_last_terminated_exitcode kube_pod_container_status_last_terminated_reason
            kube_pod_container_status_last_terminated_timestamp kube_pod_container_status_ready
            kube_pod_container_status_restarts_total kube_pod_container_status_running
            kube_pod_container_status_terminated kube_pod_container_status_terminated_reason
            kube_pod_container_status_waiting kube_pod_container_status_waiting_reason kube_pod_created
            kube_pod_deletion_timestamp kube_pod_info kube_pod_init_container_info
            kube_pod_init_container_resource_limits kube_pod_init_container_resource_requests
            kube_pod_init_container_state_started kube_pod_init_container_status_last_terminated_exitcode
            kube_pod_init_container_status_last_terminated_reason
            kube_pod_init_container_status_last_terminated_timestamp kube_pod_init_container_status_ready
            kube_pod_init_container_status_restarts_total kube_pod_init_container_status_running
            kube_pod_init_container_status_terminated kube_pod_init_container_status_terminated_reason
            kube_pod_init_container_status_waiting kube_pod_init_container_status_waiting_reason kube_pod_ips
            kube_pod_labels kube_pod_nodeselectors kube_pod_overhead_cpu_cores kube_pod_overhead_memory_bytes
            kube_pod_owner kube_pod_resourceclaim_info kube_pod_restart_policy kube_pod_runtimeclass_name_info
            kube_pod_scheduler kube_pod_service_account kube_pod_spec_volumes_persistentvolumeclaims_info
            kube_pod_spec_volumes_persistentvolumeclaims_readonly kube_pod_start_time
            kube_pod_status_container_ready_time kube_pod_status_disruption_reason kube_pod_status_initialized_time
            kube_pod_status_phase kube_pod_status_qos_class kube_pod_status_ready kube_pod_status_ready_time
            kube_pod_status_reason kube_pod_status_scheduled kube_pod_status_scheduled_time
            kube_pod_status_unschedulable kube_pod_status_unscheduled_time kube_pod_tolerations""")),
        Source(KSM_DOCS.format("workload/statefulset"), _split("""
            kube_statefulset_annotations kube_statefulset_created kube_statefulset_deletion_timestamp
            kube_statefulset_labels kube_statefulset_metadata_generation kube_statefulset_ordinals_start
            kube_statefulset_persistentvolumeclaim_retention_policy kube_statefulset_replicas
            kube_statefulset_status_current_revision kube_statefulset_status_observed_generation
            kube_statefulset_status_replicas kube_statefulset_status_replicas_available
            kube_statefulset_status_replicas_current kube_statefulset_status_replicas_ready
            kube_statefulset_status_replicas_updated kube_statefulset_status_update_revision""")),
        Source(KSM_DOCS.format("storage/persistentvolumeclaim"), _split("""
            kube_persistentvolumeclaim_access_mode kube_persistentvolumeclaim_annotations
            kube_persistentvolumeclaim_created kube_persistentvolumeclaim_deletion_timestamp
            kube_persistentvolumeclaim_info kube_persistentvolumeclaim_labels
            kube_persistentvolumeclaim_resource_requests_storage_bytes kube_persistentvolumeclaim_status_condition
            kube_persistentvolumeclaim_status_phase""")),
    ),
)

KUBELET = Exporter(
    name="kubelet (volume statistics)",
    version="the cluster's kubelet",
    pinned="not pinned by the platform: the cluster's Kubernetes version (the names are ALPHA but unchanged since "
           "Kubernetes 1.8)",
    scraped="kube-prometheus-stack's kubelet ServiceMonitor (`kubelet.serviceMonitor.honorLabels: true`)",
    monitors=(),
    sources=(
        # The PVC series; the same file also defines pod-scoped `kubelet_volume_stats_pod_*`, which released
        # kubelets do not all have yet, so they are left out.
        Source("kubernetes/kubernetes/pkg/kubelet/metrics/collectors/volume_stats.go@03ac3ef25991", _split("""
            kubelet_volume_stats_capacity_bytes kubelet_volume_stats_available_bytes kubelet_volume_stats_used_bytes
            kubelet_volume_stats_inodes kubelet_volume_stats_inodes_free kubelet_volume_stats_inodes_used""")),
    ),
)

CERT_MANAGER = Exporter(
    name="cert-manager",
    version="v1.21.1",
    pinned="components/runtime/values.py (the cert-manager chart, infra/model/charts.lock.json)",
    scraped="the ServiceMonitor `cert-manager` (components/monitoring/component.py base_targets; `honorLabels`), "
            "only where the stack installs cert-manager",
    monitors=("cert-manager",),
    sources=(
        Source("cert-manager/cert-manager/internal/collectors/certificate_collector.go@v1.21.1", _split("""
            certmanager_certificate_ready_status certmanager_certificate_not_after_timestamp_seconds
            certmanager_certificate_not_before_timestamp_seconds certmanager_certificate_expiration_timestamp_seconds
            certmanager_certificate_renewal_timestamp_seconds""")),
    ),
    otherwise="a cluster that runs its own cert-manager (`kubernetes.installCertManager: false`, prod) scrapes it "
              "itself, with `honorLabels` (docs/runtime.md, runbook DataPlatformCertificateExpiresSoon)",
)

_CNPG_QUERIES = _split("""
    cnpg_backends_total cnpg_backends_max_tx_duration_seconds cnpg_backends_waiting_total
    cnpg_pg_database_size_bytes cnpg_pg_database_xid_age cnpg_pg_database_mxid_age cnpg_pg_postmaster_start_time
    cnpg_pg_replication_lag cnpg_pg_replication_in_recovery cnpg_pg_replication_is_wal_receiver_up
    cnpg_pg_replication_streaming_replicas cnpg_pg_replication_slots_active cnpg_pg_replication_slots_pg_wal_lsn_diff
    cnpg_pg_stat_archiver_archived_count cnpg_pg_stat_archiver_failed_count
    cnpg_pg_stat_archiver_seconds_since_last_archival cnpg_pg_stat_archiver_seconds_since_last_failure
    cnpg_pg_stat_archiver_last_archived_time cnpg_pg_stat_archiver_last_failed_time
    cnpg_pg_stat_archiver_last_archived_wal_start_lsn cnpg_pg_stat_archiver_last_failed_wal_start_lsn
    cnpg_pg_stat_archiver_stats_reset_time
    cnpg_pg_stat_bgwriter_checkpoints_timed cnpg_pg_stat_bgwriter_checkpoints_req
    cnpg_pg_stat_bgwriter_checkpoint_write_time cnpg_pg_stat_bgwriter_checkpoint_sync_time
    cnpg_pg_stat_bgwriter_buffers_checkpoint cnpg_pg_stat_bgwriter_buffers_clean cnpg_pg_stat_bgwriter_maxwritten_clean
    cnpg_pg_stat_bgwriter_buffers_backend cnpg_pg_stat_bgwriter_buffers_backend_fsync
    cnpg_pg_stat_bgwriter_buffers_alloc cnpg_pg_stat_bgwriter_stats_reset_time
    cnpg_pg_stat_checkpointer_checkpoints_timed cnpg_pg_stat_checkpointer_checkpoints_req
    cnpg_pg_stat_checkpointer_restartpoints_timed cnpg_pg_stat_checkpointer_restartpoints_req
    cnpg_pg_stat_checkpointer_restartpoints_done cnpg_pg_stat_checkpointer_write_time
    cnpg_pg_stat_checkpointer_sync_time cnpg_pg_stat_checkpointer_buffers_written
    cnpg_pg_stat_checkpointer_stats_reset_time
    cnpg_pg_stat_database_xact_commit cnpg_pg_stat_database_xact_rollback cnpg_pg_stat_database_blks_read
    cnpg_pg_stat_database_blks_hit cnpg_pg_stat_database_tup_returned cnpg_pg_stat_database_tup_fetched
    cnpg_pg_stat_database_tup_inserted cnpg_pg_stat_database_tup_updated cnpg_pg_stat_database_tup_deleted
    cnpg_pg_stat_database_conflicts cnpg_pg_stat_database_temp_files cnpg_pg_stat_database_temp_bytes
    cnpg_pg_stat_database_deadlocks cnpg_pg_stat_database_blk_read_time cnpg_pg_stat_database_blk_write_time
    cnpg_pg_stat_replication_backend_start cnpg_pg_stat_replication_backend_xmin_age
    cnpg_pg_stat_replication_sent_diff_bytes cnpg_pg_stat_replication_write_diff_bytes
    cnpg_pg_stat_replication_flush_diff_bytes cnpg_pg_stat_replication_replay_diff_bytes
    cnpg_pg_stat_replication_write_lag_seconds cnpg_pg_stat_replication_flush_lag_seconds
    cnpg_pg_stat_replication_replay_lag_seconds cnpg_pg_settings_setting cnpg_pg_extensions_update_available""")

CLOUDNATIVE_PG = Exporter(
    name="CloudNativePG instance manager",
    version="1.30.0",
    pinned="components/runtime/values.py CNPG_OPERATOR (chart 0.29.0's appVersion)",
    scraped="the PodMonitor `metadata-postgresql` (components/metadata/component.py), dev only (prod runs RDS)",
    monitors=("metadata-postgresql",),
    sources=(
        Source("cloudnative-pg/cloudnative-pg/config/manager/default-monitoring.yaml@v1.30.0", _CNPG_QUERIES),
        Source("cloudnative-pg/cloudnative-pg/pkg/management/postgres/webserver/metricserver/pg_collector.go@v1.30.0",
               tuple(f"cnpg_collector_{name}" for name in _split("""
                   collections_total collection_errors_total last_collection_error up collection_duration_seconds
                   manual_switchover_required sync_replicas replica_mode pg_wal_archive_status postgres_version pg_wal
                   first_recoverability_point last_available_backup_timestamp last_failed_backup_timestamp fencing_on
                   nodes_used wal_records wal_fpi wal_bytes wal_buffers_full wal_write wal_sync wal_write_time
                   wal_sync_time"""))),
    ),
)

BARMAN_CLOUD = Exporter(
    name="Barman Cloud plugin (through the instance manager's endpoint)",
    version="v0.13.0",
    pinned="components/metadata/backups.py PLUGIN_VERSION",
    scraped="the PodMonitor `metadata-postgresql`: the instance manager serves the plugin's series, dev only",
    monitors=("metadata-postgresql",),
    sources=(
        # `barman-cloud.cloudnative-pg.io` with `.` and `-` made `_`, then the metric's name.
        Source("cloudnative-pg/plugin-barman-cloud/internal/cnpgi/instance/metrics.go@v0.13.0", _split("""
            barman_cloud_cloudnative_pg_io_first_recoverability_point
            barman_cloud_cloudnative_pg_io_last_available_backup_timestamp
            barman_cloud_cloudnative_pg_io_last_failed_backup_timestamp""")),
    ),
)

MINIO = Exporter(
    name="MinIO cluster metrics (v2)",
    version="chart 5.4.0 (minio/minio 43a740296855); dev runs SILO, the community fork, whose metrics this assumes "
            "unchanged",
    pinned="components/runtime/values.py (the minio chart, infra/model/charts.lock.json)",
    scraped="the ServiceMonitor `minio` on /minio/v2/metrics/cluster (base_targets), dev only (prod's S3 reports to "
            "CloudWatch, which this Prometheus does not read)",
    monitors=("minio",),
    sources=(
        Source("minio/minio/cmd/metrics-v2.go@43a740296855", _split("""
            minio_cluster_capacity_raw_total_bytes minio_cluster_capacity_raw_free_bytes
            minio_cluster_capacity_usable_total_bytes minio_cluster_capacity_usable_free_bytes
            minio_cluster_usage_total_bytes minio_cluster_usage_object_total
            minio_bucket_usage_total_bytes minio_bucket_usage_object_total""")),
    ),
)

ES_EXPORTER_TAG = "v1.11.0"  # infra/model/charts.py (prometheus-elasticsearch-exporter 7.4.0's image)
ES_EXPORTER_SOURCE = f"prometheus-community/elasticsearch_exporter/collector/{{}}.go@{ES_EXPORTER_TAG}"

ELASTICSEARCH_EXPORTER = Exporter(
    name="elasticsearch_exporter",
    version=ES_EXPORTER_TAG,
    pinned="infra/model/charts.py (prometheus-elasticsearch-exporter 7.4.0) and images/vendor.lock.json",
    scraped="the ServiceMonitor `elasticsearch-exporter` (components/logs/exporter.py); only the snapshots collector "
            "is switched on, cluster health and the scrape series are always served at that tag (decision 0040)",
    monitors=("elasticsearch-exporter",),
    sources=(
        Source(ES_EXPORTER_SOURCE.format("snapshots"), _split("""
            elasticsearch_snapshot_stats_snapshot_number_of_indices
            elasticsearch_snapshot_stats_snapshot_start_time_timestamp
            elasticsearch_snapshot_stats_snapshot_end_time_timestamp
            elasticsearch_snapshot_stats_snapshot_number_of_failures elasticsearch_snapshot_stats_snapshot_total_shards
            elasticsearch_snapshot_stats_snapshot_failed_shards elasticsearch_snapshot_stats_snapshot_successful_shards
            elasticsearch_snapshot_stats_number_of_snapshots elasticsearch_snapshot_stats_oldest_snapshot_timestamp
            elasticsearch_snapshot_stats_latest_snapshot_timestamp_seconds""")),
        Source(ES_EXPORTER_SOURCE.format("cluster_health"), _split("""
            elasticsearch_cluster_health_active_primary_shards elasticsearch_cluster_health_active_shards
            elasticsearch_cluster_health_delayed_unassigned_shards elasticsearch_cluster_health_initializing_shards
            elasticsearch_cluster_health_number_of_data_nodes elasticsearch_cluster_health_number_of_in_flight_fetch
            elasticsearch_cluster_health_task_max_waiting_in_queue_millis elasticsearch_cluster_health_number_of_nodes
            elasticsearch_cluster_health_number_of_pending_tasks elasticsearch_cluster_health_relocating_shards
            elasticsearch_cluster_health_unassigned_shards elasticsearch_cluster_health_status""")),
        Source(ES_EXPORTER_SOURCE.format("collector"), _split("""
            elasticsearch_scrape_duration_seconds elasticsearch_scrape_success""")),
    ),
)

PROMETHEUS = Exporter(
    name="Prometheus (series it writes about its own scrapes)",
    version="v3.14.0",
    pinned="images/vendor.lock.json (kube-prometheus-stack 88.5.3's Prometheus)",
    scraped="written by Prometheus for every target it scrapes",
    monitors=(),
    sources=(
        Source("prometheus/prometheus/docs/concepts/jobs_instances.md@v3.14.0", _split("""
            up scrape_duration_seconds scrape_samples_scraped scrape_samples_post_metric_relabeling
            scrape_series_added""")),
    ),
)

INVENTORY: tuple[Exporter, ...] = (
    KUBE_STATE_METRICS, KUBELET, CERT_MANAGER, CLOUDNATIVE_PG, BARMAN_CLOUD, MINIO, ELASTICSEARCH_EXPORTER,
    PROMETHEUS,
)


def metric_sources(inventory: tuple[Exporter, ...] = INVENTORY) -> dict[str, Exporter]:
    """Metric name -> the exporter that serves it; a name two exporters claim is an error in the inventory."""
    found: dict[str, Exporter] = {}
    for exporter in inventory:
        for name in exporter.metrics:
            if name in found and found[name] is not exporter:
                raise ValueError(f"{name} is listed under both {found[name].name} and {exporter.name}")
            found[name] = exporter
    return found


def source_of(name: str) -> Source | None:
    """The file that defines `name`."""
    return next((source for exporter in INVENTORY for source in exporter.sources if name in source.metrics), None)


@dataclass(frozen=True)
class AllowedLabel:
    """A Kubernetes label kube-state-metrics exports on `kube_<resource>_labels` because its allow-list names it
    (`--metric-labels-allowlist=<resource>=[<label>]`, the chart value `metricLabelsAllowlist`), as
    `label_<label>` with characters outside `[a-zA-Z0-9_]` turned into `_`; `cited` is the vendor file that puts the
    label on the objects."""

    resource: str
    """The resource's plural, as the allow-list names it (`pods`)."""
    label: str
    cited: str

    @property
    def metric(self) -> str:
        return f"kube_{self.resource.removesuffix('s')}_labels"

    @property
    def series_label(self) -> str:
        return "label_" + "".join(c if c.isalnum() or c == "_" else "_" for c in self.label)


# Airbyte's workload launcher labels every pod of a connection's job with the connection's id (airbyte-platform's
# release/2.1.0 branch at commit 061b8f3, the platform version chart V2 2.1.x runs; `CONNECTION_ID_LABEL_KEY`):
# the per-connection sync alert (components/ingestion/spec.py) joins failed replication pods to it.
AIRBYTE_CONNECTION_ID = AllowedLabel(
    "pods", "connection_id",
    "airbytehq/airbyte-platform/airbyte-commons-workload/src/main/kotlin/io/airbyte/workload/common/WorkloadLabels.kt"
    "@061b8f3")
ALLOWED_LABELS: tuple[AllowedLabel, ...] = (AIRBYTE_CONNECTION_ID,)


def labels_allowlist(allowed: tuple[AllowedLabel, ...] = ALLOWED_LABELS) -> list[str]:
    """kube-state-metrics' `metricLabelsAllowlist` values: one `<resource>=[<label>,...]` per resource, sorted."""
    by_resource: dict[str, list[str]] = {}
    for entry in allowed:
        by_resource.setdefault(entry.resource, []).append(entry.label)
    return [f"{resource}=[{','.join(sorted(labels))}]" for resource, labels in sorted(by_resource.items())]
