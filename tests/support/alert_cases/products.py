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
