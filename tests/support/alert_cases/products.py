"""Cases of the products' availability and log-derived alerts (components/ingestion/spec.py,
components/lakehouse/spec.py, components/presentation/spec.py).

- Workload series from kube-state-metrics (kubernetes/kube-state-metrics/docs/metrics/workload/, the Deployment and
  StatefulSet pages):
  `kube_deployment_status_replicas_available{namespace, deployment}`, `kube_statefulset_status_replicas_ready` and
  `kube_statefulset_replicas{namespace, statefulset}`, the object's labels kept by the chart's `honorLabels`. The
  objects' names are the plan's (Dremio's StatefulSets, Superset's Deployment) and the Airbyte chart's
  (`airbyte-server`, templates/airbyte-server/deployment.yaml of chart V2 2.1.1).
- Log-derived series as Fluent Bit's `log_to_metrics` names them (`log_metric_<mode>_<name>`, only the
  `Label_Field` labels), with the labels Prometheus adds to the shipper's `log-metrics` target; the names are those
  tests/components/test_log_metrics.py reads from the rendered Fluent Bit configuration.
- The batch (components/lakehouse/batch.py): kube-state-metrics' pod series
  (kubernetes/kube-state-metrics/docs/metrics/workload/pod-metrics.md: `kube_pod_created{namespace, pod, uid}`,
  `kube_pod_init_container_status_terminated_reason` and `kube_pod_container_status_terminated_reason`
  {namespace, pod, uid, container, reason}) and CronJob series (the same folder's cronjob page); pod names as the
  CronJob and Job controllers make them (`batch-<scheduled minute>-<suffix>`); the syncs step's and dbt's freshness
  gauges.
"""

from __future__ import annotations

from tests.support.promtool import AlertCase, Series, label_set
from tests.support.promtool import firing as _fires

KSM = 'job="kube-state-metrics", instance="10.42.0.7:8080"'
SHIPPER = ('namespace="dp-logs", service="fluent-bit", job="fluent-bit", endpoint="log-metrics", '
           'pod="fluent-bit-7xk2p", instance="10.42.1.4:2021"')
DREMIO = "log_metric_histogram_dremio_query_duration_seconds"
SUPERSET = "log_metric_counter_superset_http_responses_total"


def _ksm(labels: str) -> dict[str, str]:
    return label_set(f"{labels}, {KSM}")


AIRBYTE_SERVER = 'namespace="dp-ingestion", deployment="airbyte-server"'
# Airbyte's replication pods, one per sync attempt (`replication-job-<job>-attempt-<n>`), with the connection id the
# workload launcher labels them with, as kube-state-metrics exports it once allow-listed (`label_connection_id`).
ORDERS_CONNECTION = "8f14e45f-ceea-4672-9e0b-2a7c3d5b6e01"
REVIEWS_CONNECTION = "c9f0f895-fb98-4ab9-8b8d-1f2e3d4c5b02"


def _attempt(job: int, attempt: int, connection: str, created: int, phase: str) -> tuple[Series, ...]:
    """One attempt's pod: created at `created` (seconds), in `phase` throughout."""
    pod = (f'namespace="dp-ingestion", pod="replication-job-{job}-attempt-{attempt}", uid="5e6f7a8b-{job}{attempt}", '
           f"{KSM}")
    return (Series(f"kube_pod_created{{{pod}}}", f"{created}+0x30"),
            Series(f'kube_pod_labels{{{pod}, label_connection_id="{connection}"}}', "1+0x30"),
            *(Series(f'kube_pod_status_phase{{{pod}, phase="{each}"}}', f"{int(each == phase)}+0x30")
              for each in ("Pending", "Running", "Succeeded", "Failed", "Unknown")))


def _sync_failed(connection: str) -> tuple[dict[str, dict[str, str]], ...]:
    return _fires("AirbyteSyncFailed", "docs/ingestion.md",
                  {"namespace": "dp-ingestion", "label_connection_id": connection, "connection_id": connection},
                  f"The newest sync attempt of Airbyte connection {connection} failed and no newer one is pending, "
                  "running or succeeded: its streams land nothing new in bronze until a sync succeeds.")


COORDINATOR = 'namespace="dp-lakehouse", statefulset="dremio-coordinator"'
EXECUTORS = 'namespace="dp-lakehouse", statefulset="dremio-executor"'
SUPERSET_WEB = 'namespace="dp-presentation", deployment="superset-web"'

CASES = [
    # ---- AirbyteServerDown
    AlertCase("Airbyte's server without an available replica", "AirbyteServerDown",
              (Series(f"kube_deployment_status_replicas_available{{{AIRBYTE_SERVER}, {KSM}}}", "0+0x30"),), "20m",
              _fires("AirbyteServerDown", "docs/ingestion.md", _ksm(AIRBYTE_SERVER),
                     "Airbyte's server is unavailable: no syncs are scheduled and the API refuses configuration.",
                     "critical")),
    AlertCase("Airbyte's server restarting for 2 minutes", "AirbyteServerDown",
              (Series(f"kube_deployment_status_replicas_available{{{AIRBYTE_SERVER}, {KSM}}}", "1+0x10 0+0x2 1+0x18"),),
              "20m"),
    # ---- AirbyteSyncFailed: a connection's newest attempt failed, none newer pending, running or succeeded
    AlertCase("the only attempt of a connection failed", "AirbyteSyncFailed",
              _attempt(41, 0, ORDERS_CONNECTION, 3600, "Failed"), "20m", _sync_failed(ORDERS_CONNECTION)),
    AlertCase("a success, then a failed attempt; another connection succeeded", "AirbyteSyncFailed",
              (*_attempt(40, 0, ORDERS_CONNECTION, 1800, "Succeeded"),
               *_attempt(41, 0, ORDERS_CONNECTION, 3600, "Failed"),
               *_attempt(7, 0, REVIEWS_CONNECTION, 3000, "Succeeded")), "20m", _sync_failed(ORDERS_CONNECTION)),
    AlertCase("a failed attempt retried, the retry running", "AirbyteSyncFailed",
              (*_attempt(41, 0, ORDERS_CONNECTION, 3600, "Failed"),
               *_attempt(41, 1, ORDERS_CONNECTION, 3700, "Running")), "20m"),
    AlertCase("a failed attempt, then the next scheduled job succeeded", "AirbyteSyncFailed",
              (*_attempt(41, 0, ORDERS_CONNECTION, 3600, "Failed"),
               *_attempt(42, 0, ORDERS_CONNECTION, 5400, "Succeeded")), "20m"),
    AlertCase("a failed pod of another kind (a check) is not a sync", "AirbyteSyncFailed",
              (Series(f'kube_pod_created{{namespace="dp-ingestion", pod="check-8f14e45f-1", {KSM}}}', "3600+0x30"),
               Series(f'kube_pod_labels{{namespace="dp-ingestion", pod="check-8f14e45f-1", '
                      f'label_connection_id="{ORDERS_CONNECTION}", {KSM}}}', "1+0x30"),
               Series(f'kube_pod_status_phase{{namespace="dp-ingestion", pod="check-8f14e45f-1", phase="Failed", '
                      f'{KSM}}}', "1+0x30")), "20m"),
    # ---- DremioCoordinatorDown
    AlertCase("the coordinator not ready", "DremioCoordinatorDown",
              (Series(f"kube_statefulset_status_replicas_ready{{{COORDINATOR}, {KSM}}}", "0+0x30"),), "20m",
              _fires("DremioCoordinatorDown", "docs/lakehouse.md", _ksm(COORDINATOR),
                     "The Dremio coordinator is not ready: no queries, no dbt runs, no dashboards.", "critical")),
    AlertCase("the coordinator ready", "DremioCoordinatorDown",
              (Series(f"kube_statefulset_status_replicas_ready{{{COORDINATOR}, {KSM}}}", "1+0x30"),), "20m"),
    # ---- DremioExecutorsDegraded
    AlertCase("one executor of three not ready", "DremioExecutorsDegraded",
              (Series(f"kube_statefulset_status_replicas_ready{{{EXECUTORS}, {KSM}}}", "2+0x30"),
               Series(f"kube_statefulset_replicas{{{EXECUTORS}, {KSM}}}", "3+0x30")), "20m",
              _fires("DremioExecutorsDegraded", "docs/lakehouse.md", _ksm(EXECUTORS),
                     "Fewer Dremio executors are ready than declared; queries slow down or fail.", "warning")),
    AlertCase("every executor ready", "DremioExecutorsDegraded",
              (Series(f"kube_statefulset_status_replicas_ready{{{EXECUTORS}, {KSM}}}", "3+0x30"),
               Series(f"kube_statefulset_replicas{{{EXECUTORS}, {KSM}}}", "3+0x30")), "20m"),
    # ---- DremioSlowQueries: a query over 30 s in the last 10 minutes
    AlertCase("one query in two slower than 30 s", "DremioSlowQueries",
              (Series(f"{DREMIO}_count{{{SHIPPER}}}", "0+2x30"),
               Series(f'{DREMIO}_bucket{{{SHIPPER}, le="30.0"}}', "0+1x30"),
               Series(f'{DREMIO}_bucket{{{SHIPPER}, le="+Inf"}}', "0+2x30")), "20m",
              _fires("DremioSlowQueries", "docs/lakehouse.md", {},
                     "Dremio ran queries slower than 30s in the last 10 minutes.", "warning")),
    AlertCase("every query under 30 s", "DremioSlowQueries",
              (Series(f"{DREMIO}_count{{{SHIPPER}}}", "0+2x30"),
               Series(f'{DREMIO}_bucket{{{SHIPPER}, le="30.0"}}', "0+2x30"),
               Series(f'{DREMIO}_bucket{{{SHIPPER}, le="+Inf"}}', "0+2x30")), "20m"),
    # ---- SupersetDown
    AlertCase("Superset's web app without an available replica", "SupersetDown",
              (Series(f"kube_deployment_status_replicas_available{{{SUPERSET_WEB}, {KSM}}}", "0+0x30"),), "20m",
              _fires("SupersetDown", "docs/presentation.md", _ksm(SUPERSET_WEB),
                     "Superset's web app has no available replica: dashboards and the API are down.", "critical")),
    AlertCase("Superset's web app available", "SupersetDown",
              (Series(f"kube_deployment_status_replicas_available{{{SUPERSET_WEB}, {KSM}}}", "2+0x30"),), "20m"),
    # ---- SupersetApiErrors: over 5 % server errors, for 10 minutes
    AlertCase("one response in ten a server error", "SupersetApiErrors",
              (Series(f'{SUPERSET}{{{SHIPPER}, status_class="2"}}', "0+9x40"),
               Series(f'{SUPERSET}{{{SHIPPER}, status_class="5"}}', "0+1x40")), "30m",
              _fires("SupersetApiErrors", "docs/presentation.md", {},
                     "More than 5% of Superset's API responses in the last 5 minutes were server errors.",
                     "critical")),
    AlertCase("one response in a hundred a server error", "SupersetApiErrors",
              (Series(f'{SUPERSET}{{{SHIPPER}, status_class="2"}}', "0+99x40"),
               Series(f'{SUPERSET}{{{SHIPPER}, status_class="5"}}', "0+1x40")), "30m"),
    AlertCase("no traffic at all", "SupersetApiErrors",
              (Series(f'{SUPERSET}{{{SHIPPER}, status_class="2"}}', "0+0x40"),), "30m"),
]


# ---- the batch -------------------------------------------------------------------------------------------------
LAKEHOUSE = 'namespace="dp-lakehouse"'
BATCH_CRONJOB = f'{LAKEHOUSE}, cronjob="batch", {KSM}'
FAILED_POD = "batch-29412060-x7k2p"
OLD_POD = "batch-29411940-q9f4d"


def _pod(pod: str) -> str:
    return f'{LAKEHOUSE}, pod="{pod}", uid="0b1c2d3e-{pod[-5:]}", {KSM}'


def _step(pod: str, container: str, reason: str, init: bool = True) -> str:
    kind = "init_container" if init else "container"
    return (f'kube_pod_{kind}_status_terminated_reason{{{_pod(pod)}, container="{container}", '
            f'reason="{reason}"}}')


STEP_SUMMARY = ("Step {step} of the batch in dp-lakehouse failed ({reason}) and the steps after it did not run; the "
                "marts and dashboards are as the last successful run left them.")
SYNC_FAILED = "log_metric_gauge_batch_sync_failed_timestamp_seconds"
SYNC_SUCCEEDED = "log_metric_gauge_batch_sync_succeeded_timestamp_seconds"
STALE = "log_metric_gauge_dbt_source_stale_timestamp_seconds"
FRESH = "log_metric_gauge_dbt_source_fresh_timestamp_seconds"
OTHER_SHIPPER = SHIPPER.replace("fluent-bit-7xk2p", "fluent-bit-m4n8q").replace("10.42.1.4", "10.42.2.9")
POSTGRES = 'connection="postgres-to-bronze"'
ORDERS = 'source_name="postgres", table_name="orders"'

CASES += [
    # ---- BatchStepFailed: a step of the newest run failed (its pod is newer than the last success)
    AlertCase("the syncs step of the newest run failed", "BatchStepFailed",
              (Series(f"kube_cronjob_status_last_successful_time{{{BATCH_CRONJOB}}}", "1000+0x30"),
               Series(f"kube_pod_created{{{_pod(FAILED_POD)}}}", "3600+0x30"),
               Series(_step(FAILED_POD, "syncs", "Error"), "1+0x30")), "20m",
              _fires("BatchStepFailed", "docs/lakehouse.md",
                     {"namespace": "dp-lakehouse", "container": "syncs", "reason": "Error"},
                     STEP_SUMMARY.format(step="syncs", reason="Error"), "critical")),
    AlertCase("the dashboards step of the very first run failed", "BatchStepFailed",
              (Series(f"kube_pod_created{{{_pod(FAILED_POD)}}}", "3600+0x30"),
               Series(_step(FAILED_POD, "syncs", "Completed"), "1+0x30"),
               Series(_step(FAILED_POD, "dbt", "Completed"), "1+0x30"),
               Series(_step(FAILED_POD, "dashboards", "Error", init=False), "1+0x30")), "20m",
              _fires("BatchStepFailed", "docs/lakehouse.md",
                     {"namespace": "dp-lakehouse", "container": "dashboards", "reason": "Error"},
                     STEP_SUMMARY.format(step="dashboards", reason="Error"), "critical")),
    AlertCase("an older run's failed dbt step, with a success since", "BatchStepFailed",
              (Series(f"kube_cronjob_status_last_successful_time{{{BATCH_CRONJOB}}}", "7200+0x30"),
               Series(f"kube_pod_created{{{_pod(OLD_POD)}}}", "3600+0x30"),
               Series(_step(OLD_POD, "dbt", "Error"), "1+0x30")), "20m"),
    AlertCase("every step completed", "BatchStepFailed",
              (Series(f"kube_pod_created{{{_pod(FAILED_POD)}}}", "3600+0x30"),
               *(Series(_step(FAILED_POD, step, "Completed"), "1+0x30") for step in ("syncs", "dbt", "reflections")),
               Series(_step(FAILED_POD, "dashboards", "Completed", init=False), "1+0x30")), "20m"),
    # ---- BatchLate: no success within interval + deadline + 30 minutes (2.5 h for the hourly batch)
    AlertCase("the last success 3 hours ago", "BatchLate",
              (Series(f"kube_cronjob_status_last_successful_time{{{BATCH_CRONJOB}}}", "0+0x200"),
               Series(f"kube_cronjob_created{{{BATCH_CRONJOB}}}", "0+0x200")), "3h",
              _fires("BatchLate", "docs/lakehouse.md", {"namespace": "dp-lakehouse"},
                     "No batch run in dp-lakehouse has succeeded in the last 2.5 h (CronJob batch).", "critical")),
    AlertCase("never a success, created 3 hours ago (a first run that hangs)", "BatchLate",
              (Series(f"kube_cronjob_created{{{BATCH_CRONJOB}}}", "0+0x200"),), "3h",
              _fires("BatchLate", "docs/lakehouse.md", {"namespace": "dp-lakehouse"},
                     "No batch run in dp-lakehouse has succeeded in the last 2.5 h (CronJob batch).", "critical")),
    AlertCase("a success every hour", "BatchLate",
              (Series(f"kube_cronjob_status_last_successful_time{{{BATCH_CRONJOB}}}", "0+0x59 3600+0x59 7200+0x80"),
               Series(f"kube_cronjob_created{{{BATCH_CRONJOB}}}", "0+0x200")), "3h"),
    AlertCase("created an hour ago, no run due yet", "BatchLate",
              (Series(f"kube_cronjob_created{{{BATCH_CRONJOB}}}", "7200+0x200"),), "3h"),
    # ---- BatchSyncFailed: a connection's newest outcome in the batch is a failure
    AlertCase("postgres-to-bronze failed after its last success", "BatchSyncFailed",
              (Series(f"{SYNC_SUCCEEDED}{{{SHIPPER}, {POSTGRES}}}", "3600+0x30"),
               Series(f"{SYNC_FAILED}{{{OTHER_SHIPPER}, {POSTGRES}}}", "7200+0x30")), "20m",
              _fires("BatchSyncFailed", "docs/lakehouse.md", {"connection": "postgres-to-bronze"},
                     "The batch's sync of Airbyte connection postgres-to-bronze failed and none has succeeded since: "
                     "bronze lacks its new data, and the batch stopped before dbt.", "critical")),
    AlertCase("postgres-to-bronze never succeeded", "BatchSyncFailed",
              (Series(f"{SYNC_FAILED}{{{SHIPPER}, {POSTGRES}}}", "7200+0x30"),), "20m",
              _fires("BatchSyncFailed", "docs/lakehouse.md", {"connection": "postgres-to-bronze"},
                     "The batch's sync of Airbyte connection postgres-to-bronze failed and none has succeeded since: "
                     "bronze lacks its new data, and the batch stopped before dbt.", "critical")),
    AlertCase("a failure on one node, a later success on another", "BatchSyncFailed",
              (Series(f"{SYNC_FAILED}{{{SHIPPER}, {POSTGRES}}}", "3600+0x30"),
               Series(f"{SYNC_SUCCEEDED}{{{OTHER_SHIPPER}, {POSTGRES}}}", "7200+0x30")), "20m"),
    # ---- DbtSourceStale: a source table's newest freshness result is warn or error
    AlertCase("postgres.orders stale at the last batch", "DbtSourceStale",
              (Series(f"{FRESH}{{{SHIPPER}, {ORDERS}}}", "3600+0x30"),
               Series(f"{STALE}{{{OTHER_SHIPPER}, {ORDERS}}}", "7200+0x30")), "20m",
              _fires("DbtSourceStale", "docs/lakehouse.md", {"source_name": "postgres", "table_name": "orders"},
                     "dbt source freshness found postgres.orders stale at the last batch: no record newer than its "
                     "freshness threshold.")),
    AlertCase("postgres.orders fresh again", "DbtSourceStale",
              (Series(f"{STALE}{{{SHIPPER}, {ORDERS}}}", "3600+0x30"),
               Series(f"{FRESH}{{{SHIPPER}, {ORDERS}}}", "7200+0x30")), "20m"),
]
