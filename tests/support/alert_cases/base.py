"""Cases of the runtime's base alerts (components/monitoring/component.py base_rules).

Series and labels as Prometheus stores them from each exporter:
- kubelet volume stats: kubelet's `kubelet_volume_stats_*{namespace, persistentvolumeclaim}`, scraped by
  kube-prometheus-stack's kubelet ServiceMonitor, which keeps the exporter's labels (`kubelet.serviceMonitor
  .honorLabels: true` in the chart's values.yaml at 88.5.3);
- cert-manager v1.21.1 (internal/collectors/certificate_collector.go): `certmanager_certificate_*{name, namespace,
  issuer_name, issuer_kind, issuer_group}` (+ `condition` for the ready status), the Certificate's own namespace
  kept by the cert-manager ServiceMonitor's `honorLabels`;
- kube-state-metrics (its docs, kubernetes/kube-state-metrics/docs/metrics/workload/):
  `kube_deployment_status_replicas_unavailable`, `kube_statefulset_status_replicas(_ready)`,
  `kube_daemonset_status_number_unavailable` with `namespace` and the object's name label, kept by the chart's
  `kube-state-metrics.prometheus.monitor.http.honorLabels: true`;
- `up` with the labels the Prometheus Operator gives a ServiceMonitor's targets (`namespace`, `service`, `pod`,
  `endpoint` = the port's name, `job` = the Service's name).
"""

from __future__ import annotations

from tests.support.promtool import AlertCase, Series, firing
from tests.support.promtool import label_set as _labels

RUNBOOK = "docs/runtime.md"
KUBELET = 'job="kubelet", node="node-1", instance="10.0.0.5:10250", metrics_path="/metrics"'
KSM = 'job="kube-state-metrics", instance="10.42.0.7:8080"'
CERT_MANAGER = ('job="cert-manager", service="cert-manager", endpoint="http-metrics", pod="cert-manager-6d9c-x2v4q", '
                'instance="10.42.0.9:9402", container="cert-manager-controller"')
ISSUER = 'issuer_name="dataplatform-dev-ca", issuer_kind="ClusterIssuer", issuer_group="cert-manager.io"'
SHIPPER = 'namespace="dp-logs", service="fluent-bit", job="fluent-bit", pod="fluent-bit-7xk2p", instance="10.42.1.4"'


def _fires(alert: str, labels: dict[str, str], summary: str, severity: str = "warning") -> tuple[dict, ...]:
    return firing(alert, RUNBOOK, labels, summary, severity)


VOLUME = f'namespace="dp-storage", persistentvolumeclaim="export-minio-0", {KUBELET}'
EXPIRY = "certmanager_certificate_expiration_timestamp_seconds"
CERT = f'name="minio-tls", namespace="dp-storage", {ISSUER}, {CERT_MANAGER}'
OTHER_TEAM_CERT = f'name="shop-tls", namespace="shop", {ISSUER}, {CERT_MANAGER}'
DAY = 86400

CASES = [
    # ---- DataPlatformVolumeNearlyFull: under 15 % free
    AlertCase("a volume 10 % free", "DataPlatformVolumeNearlyFull",
              (Series(f"kubelet_volume_stats_available_bytes{{{VOLUME}}}", "1e9+0x30"),
               Series(f"kubelet_volume_stats_capacity_bytes{{{VOLUME}}}", "1e10+0x30")), "20m",
              _fires("DataPlatformVolumeNearlyFull", _labels(VOLUME),
                     "Volume export-minio-0 in dp-storage has less than 15% free space.", "critical")),
    AlertCase("a volume 40 % free", "DataPlatformVolumeNearlyFull",
              (Series(f"kubelet_volume_stats_available_bytes{{{VOLUME}}}", "4e9+0x30"),
               Series(f"kubelet_volume_stats_capacity_bytes{{{VOLUME}}}", "1e10+0x30")), "20m"),
    AlertCase("another team's volume 1 % free", "DataPlatformVolumeNearlyFull",
              (Series(f'kubelet_volume_stats_available_bytes{{namespace="shop", persistentvolumeclaim="db-0", '
                      f'{KUBELET}}}', "1e8+0x30"),
               Series(f'kubelet_volume_stats_capacity_bytes{{namespace="shop", persistentvolumeclaim="db-0", '
                      f'{KUBELET}}}', "1e10+0x30")), "20m"),
    # ---- DataPlatformCertificateExpiresSoon: within 14 days, for an hour
    AlertCase("a platform certificate expiring in 10 days", "DataPlatformCertificateExpiresSoon",
              (Series(f"{EXPIRY}{{{CERT}}}", f"{10 * DAY}+0x180"),), "2h",
              _fires("DataPlatformCertificateExpiresSoon", _labels(CERT),
                     "Certificate minio-tls in dp-storage expires within 14 days.")),
    AlertCase("a platform certificate renewed, 60 days left", "DataPlatformCertificateExpiresSoon",
              (Series(f"{EXPIRY}{{{CERT}}}", f"{60 * DAY}+0x180"),), "2h"),
    AlertCase("another team's certificate expiring", "DataPlatformCertificateExpiresSoon",
              (Series(f"{EXPIRY}{{{OTHER_TEAM_CERT}}}", f"{2 * DAY}+0x180"),), "2h"),
    # ---- DataPlatformCertificateNotReady
    AlertCase("a platform certificate not ready", "DataPlatformCertificateNotReady",
              (Series(f'certmanager_certificate_ready_status{{{CERT}, condition="False"}}', "1+0x30"),
               Series(f'certmanager_certificate_ready_status{{{CERT}, condition="True"}}', "0+0x30")), "20m",
              _fires("DataPlatformCertificateNotReady", {**_labels(CERT), "condition": "False"},
                     "Certificate minio-tls in dp-storage is not ready.")),
    AlertCase("a platform certificate ready", "DataPlatformCertificateNotReady",
              (Series(f'certmanager_certificate_ready_status{{{CERT}, condition="False"}}', "0+0x30"),
               Series(f'certmanager_certificate_ready_status{{{CERT}, condition="True"}}', "1+0x30")), "20m"),
    # ---- DataPlatformDeploymentUnavailable: for 10 minutes (a rolling update's gap is shorter)
    AlertCase("a Deployment with a replica down for 20 minutes", "DataPlatformDeploymentUnavailable",
              (Series(f'kube_deployment_status_replicas_unavailable{{namespace="dp-lakehouse", '
                      f'deployment="dremio-coordinator", {KSM}}}', "1+0x30"),), "20m",
              _fires("DataPlatformDeploymentUnavailable",
                     {"namespace": "dp-lakehouse", "deployment": "dremio-coordinator", **_labels(KSM)},
                     "Deployment dremio-coordinator in dp-lakehouse has unavailable replicas.", "critical")),
    AlertCase("a rolling update's 3 minutes", "DataPlatformDeploymentUnavailable",
              (Series(f'kube_deployment_status_replicas_unavailable{{namespace="dp-lakehouse", '
                      f'deployment="dremio-coordinator", {KSM}}}', "1+0x3 0+0x27"),), "20m"),
    # ---- DataPlatformStatefulSetUnavailable
    AlertCase("a StatefulSet with a replica not ready", "DataPlatformStatefulSetUnavailable",
              (Series(f'kube_statefulset_status_replicas{{namespace="dp-logs", statefulset="logs-es-default", '
                      f'{KSM}}}', "3+0x30"),
               Series(f'kube_statefulset_status_replicas_ready{{namespace="dp-logs", statefulset="logs-es-default", '
                      f'{KSM}}}', "2+0x30")), "20m",
              _fires("DataPlatformStatefulSetUnavailable",
                     {"namespace": "dp-logs", "statefulset": "logs-es-default", **_labels(KSM)},
                     "StatefulSet logs-es-default in dp-logs has replicas that are not ready.", "critical")),
    AlertCase("a StatefulSet all ready", "DataPlatformStatefulSetUnavailable",
              (Series(f'kube_statefulset_status_replicas{{namespace="dp-logs", statefulset="logs-es-default", '
                      f'{KSM}}}', "3+0x30"),
               Series(f'kube_statefulset_status_replicas_ready{{namespace="dp-logs", statefulset="logs-es-default", '
                      f'{KSM}}}', "3+0x30")), "20m"),
    # ---- DataPlatformDaemonSetUnavailable
    AlertCase("the log shipper missing on a node", "DataPlatformDaemonSetUnavailable",
              (Series(f'kube_daemonset_status_number_unavailable{{namespace="dp-logs", daemonset="fluent-bit", '
                      f'{KSM}}}', "1+0x30"),), "20m",
              _fires("DataPlatformDaemonSetUnavailable",
                     {"namespace": "dp-logs", "daemonset": "fluent-bit", **_labels(KSM)},
                     "DaemonSet fluent-bit in dp-logs has unavailable pods.")),
    AlertCase("the log shipper on every node", "DataPlatformDaemonSetUnavailable",
              (Series(f'kube_daemonset_status_number_unavailable{{namespace="dp-logs", daemonset="fluent-bit", '
                      f'{KSM}}}', "0+0x30"),), "20m"),
    # ---- DataPlatformScrapeTargetDown
    AlertCase("a shipper pod's own endpoint down", "DataPlatformScrapeTargetDown",
              (Series(f'up{{{SHIPPER}, endpoint="http"}}', "0+0x30"),), "20m",
              _fires("DataPlatformScrapeTargetDown", {**_labels(SHIPPER), "endpoint": "http"},
                     "Prometheus cannot scrape fluent-bit on fluent-bit-7xk2p in dp-logs.")),
    AlertCase("a quiet shipper's log-derived endpoint answering 404", "DataPlatformScrapeTargetDown",
              (Series(f'up{{{SHIPPER}, endpoint="http"}}', "1+0x30"),
               Series(f'up{{{SHIPPER}, endpoint="log-metrics"}}', "0+0x30")), "20m"),
    AlertCase("every target up", "DataPlatformScrapeTargetDown",
              (Series(f'up{{{SHIPPER}, endpoint="http"}}', "1+0x30"),), "20m"),
]
