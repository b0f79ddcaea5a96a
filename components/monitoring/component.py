"""Monitoring layer: `Monitoring`, scrape targets and alert rules for the Prometheus Operator.

Example (inside a Pulumi program)::

    monitoring = Monitoring("monitoring", cluster, base_targets(config.kubernetes, config.storage), base_rules(),
                            group=BASE_GROUP)
    # a product adds its own through the same mechanism:
    Monitoring("dremio-monitoring", cluster, targets=[ScrapeTarget(...)], rules=[AlertRule(...)])

Scrape targets become ServiceMonitors or PodMonitors in the target's namespace (TLS endpoints are scraped
over TLS, verified against the certificate's CA); alert rules become one PrometheusRule in `dp-monitoring`,
each alert with a `runbook_url`: the stack's `alerting.runbookBaseUrl` (the cluster context's `runbook_base`)
followed by the runbook's document and section (docs/runtime.md#<alertname> for the base rules); dashboards become
ConfigMaps for Grafana's sidecar (components/monitoring/dashboards.py). The base rules cover the seed's
disk-nearly-full alert, certificate expiry and the base services' health; product alerts land with their products.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from components.kit.base import child_options, type_token
from components.kit.cluster import ClusterContext
from components.logs import shipping as logshipping
from components.runtime.config import KubernetesConfig
from components.runtime.values import PROMETHEUS_RELEASE
from components.storage.config import StorageConfig
from infra.model.naming import namespace_name, service_host

RUNBOOKS = "docs/runtime.md"  # the runbooks section of the repository's runtime docs
PLATFORM_NAMESPACES = 'namespace=~"dp-.*"'
BASE_GROUP = "dataplatform-base"
VOLUME_FREE_PERCENT = 15  # the base alert fires when a platform volume has less free space than this
CERTIFICATE_DAYS = 14  # ... and when a certificate expires within this many days


# Grafana's dashboard sidecar loads ConfigMaps with this label (kube-prometheus-stack's values: `grafana.sidecar
# .dashboards.label: grafana_dashboard`, `labelValue: "1"`); it files them under the folder this annotation names
# where the Grafana sets `sidecar.dashboards.folderAnnotation: grafana_folder` (components/monitoring/dashboards.py).
DASHBOARD_LABEL = {"grafana_dashboard": "1"}
FOLDER_ANNOTATION = {"grafana_folder": "Data platform"}


def dashboard_json(dashboard: dict[str, Any]) -> str:
    """A dashboard as its ConfigMap holds it: sorted keys, two-space indent; the same dashboard, the same text."""
    return json.dumps(dashboard, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class ScrapeTarget:
    """One metrics endpoint: a Service port (ServiceMonitor) or a pod port (PodMonitor)."""

    name: str
    layer: str
    selector: dict[str, str]
    port: str
    path: str = "/metrics"
    kind: Literal["ServiceMonitor", "PodMonitor"] = "ServiceMonitor"
    tls_secret: str | None = None
    """Secret in the target's namespace whose `ca.crt` verifies the endpoint; None scrapes plain HTTP."""
    server_name: str | None = None
    honor_labels: bool = False
    """Keep the exporter's own labels where they clash with the target's (`namespace`, `pod`, ...): for exporters
    that report on objects of other namespaces. Without it Prometheus renames the exporter's `namespace` to
    `exported_namespace` and every series carries the exporter's namespace."""

    def manifest(self) -> dict:
        endpoint: dict = {"port": self.port, "path": self.path, "interval": "30s"}
        if self.honor_labels:
            endpoint["honorLabels"] = True
        if self.tls_secret:
            endpoint["scheme"] = "https"
            endpoint["tlsConfig"] = {
                "ca": {"secret": {"name": self.tls_secret, "key": "ca.crt"}},
                "serverName": self.server_name,
            }
        endpoints_key = "endpoints" if self.kind == "ServiceMonitor" else "podMetricsEndpoints"
        return {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": self.kind,
            "metadata": {"name": self.name, "namespace": namespace_name(self.layer)},
            "spec": {"selector": {"matchLabels": self.selector}, endpoints_key: [endpoint]},
        }


@dataclass(frozen=True)
class AlertRule:
    alert: str
    expr: str
    summary: str
    duration: str = "10m"
    severity: Literal["warning", "critical"] = "warning"
    labels: dict[str, str] = field(default_factory=dict)
    runbooks: str = RUNBOOKS
    """Document (repository-relative) whose section (the alert's name, lowercased) is the runbook."""

    def runbook_url(self, runbook_base: str = "") -> str:
        """The runbook's address: `runbook_base` (an https URL ending in `/`, or "" for a repository-relative
        link), the document, and the section a repository host renders for the heading `### <alert>`."""
        return f"{runbook_base}{self.runbooks}#{self.alert.lower()}"

    def rule(self, runbook_base: str = "") -> dict:
        return {
            "alert": self.alert,
            "expr": self.expr,
            "for": self.duration,
            "labels": {"severity": self.severity, **self.labels},
            "annotations": {"summary": self.summary, "runbook_url": self.runbook_url(runbook_base)},
        }


@dataclass(frozen=True)
class RecordingRule:
    """A series Prometheus records, standing in for a metric a product does not export itself."""

    record: str
    expr: str

    def rule(self, runbook_base: str = "") -> dict:
        return {"record": self.record, "expr": self.expr}


def base_targets(kubernetes: KubernetesConfig, storage: StorageConfig) -> list[ScrapeTarget]:
    """The shared services' metrics endpoints (cert-manager, MinIO and CloudNativePG only where the runtime runs
    them: a cluster that runs its own cert-manager scrapes it its own way, and this stack's Prometheus picks up a
    ServiceMonitor in any namespace)."""
    targets = [
        ScrapeTarget("fluent-bit", "logs", {"app.kubernetes.io/name": "fluent-bit"}, "http",
                     path="/api/v2/metrics/prometheus"),
        # What the shipper derives from logs (components/logs/shipping.py LOG_METRICS): Dremio's query-duration
        # histogram and Superset's responses by status class, which the lakehouse's and presentation's alerts read.
        ScrapeTarget("fluent-bit-log-metrics", "logs", {"app.kubernetes.io/name": "fluent-bit"},
                     logshipping.LOG_METRICS_ENDPOINT,
                     path=logshipping.LOG_METRICS_PATH),
    ]
    if kubernetes.install_cert_manager:
        # The controller's Service (cert-manager chart, templates/service.yaml) names its port `http-metrics` (9402).
        # Its certificate series carry the Certificate's own `namespace` (cert-manager v1.21.1,
        # internal/collectors/certificate_collector.go: name, namespace, condition, issuer_*), which the alerts
        # select and name: the exporter's labels are kept.
        targets.append(ScrapeTarget("cert-manager", "system", {"app.kubernetes.io/name": "cert-manager"},
                                    "http-metrics", honor_labels=True))
    if kubernetes.install_cloudnative_pg:
        targets.append(ScrapeTarget("cloudnative-pg", "system", {"app.kubernetes.io/name": "cloudnative-pg"},
                                    "metrics", kind="PodMonitor"))
    if storage.backend == "minio":
        # The API Service alone, by the label the chart's own ServiceMonitor selects (helm/minio/templates/service.yaml
        # and servicemonitor.yaml at minio/minio 43a740296855): the console Service shares `app` and `release` and
        # names its port `https` too, but lacks `monitoring`.
        targets.append(ScrapeTarget("minio", "storage", {"app": "minio", "release": "minio", "monitoring": "true"},
                                    "https",
                                    path="/minio/v2/metrics/cluster", tls_secret="minio-tls",
                                    server_name=service_host("minio", "storage")))
    return targets


def base_rules() -> list[AlertRule]:
    free = VOLUME_FREE_PERCENT / 100
    days = CERTIFICATE_DAYS
    return [
        AlertRule(
            "DataPlatformVolumeNearlyFull",
            f"kubelet_volume_stats_available_bytes{{{PLATFORM_NAMESPACES}}} "
            f"/ kubelet_volume_stats_capacity_bytes{{{PLATFORM_NAMESPACES}}} < {free}",
            f"Volume {{{{ $labels.persistentvolumeclaim }}}} in {{{{ $labels.namespace }}}} has less than "
            f"{VOLUME_FREE_PERCENT}% free space.",
            severity="critical",
        ),
        AlertRule(
            "DataPlatformCertificateExpiresSoon",
            f"certmanager_certificate_expiration_timestamp_seconds{{{PLATFORM_NAMESPACES}}} - time() "
            f"< {days} * 86400",
            f"Certificate {{{{ $labels.name }}}} in {{{{ $labels.namespace }}}} expires within {days} days.",
            duration="1h",
        ),
        AlertRule(
            "DataPlatformCertificateNotReady",
            f'certmanager_certificate_ready_status{{{PLATFORM_NAMESPACES},condition="False"}} == 1',
            "Certificate {{ $labels.name }} in {{ $labels.namespace }} is not ready.",
        ),
        AlertRule(
            "DataPlatformDeploymentUnavailable",
            f"kube_deployment_status_replicas_unavailable{{{PLATFORM_NAMESPACES}}} > 0",
            "Deployment {{ $labels.deployment }} in {{ $labels.namespace }} has unavailable replicas.",
            severity="critical",
        ),
        AlertRule(
            "DataPlatformStatefulSetUnavailable",
            f"kube_statefulset_status_replicas{{{PLATFORM_NAMESPACES}}} "
            f"- kube_statefulset_status_replicas_ready{{{PLATFORM_NAMESPACES}}} > 0",
            "StatefulSet {{ $labels.statefulset }} in {{ $labels.namespace }} has replicas that are not ready.",
            severity="critical",
        ),
        AlertRule(
            "DataPlatformDaemonSetUnavailable",
            f"kube_daemonset_status_number_unavailable{{{PLATFORM_NAMESPACES}}} > 0",
            "DaemonSet {{ $labels.daemonset }} in {{ $labels.namespace }} has unavailable pods.",
        ),
        # Fluent Bit's log-derived endpoint answers 404 until its first log-derived series exists (a quiet node, any
        # restart): that target being down says nothing. The same pods' own endpoint (`http`) is watched.
        AlertRule(
            "DataPlatformScrapeTargetDown",
            f'up{{{PLATFORM_NAMESPACES},endpoint!="{logshipping.LOG_METRICS_ENDPOINT}"}} == 0',
            "Prometheus cannot scrape {{ $labels.job }} on {{ $labels.pod }} in {{ $labels.namespace }}.",
            duration="5m",
        ),
    ]


class Monitoring(pulumi.ComponentResource):
    """ServiceMonitors/PodMonitors, one PrometheusRule, and Grafana dashboards (one ConfigMap each, in
    `dp-monitoring`, labelled for Grafana's dashboard sidecar); products pass their own targets and rules."""

    def __init__(
        self,
        name: str,
        cluster: ClusterContext,
        targets: list[ScrapeTarget],
        rules: list[AlertRule | RecordingRule],
        group: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
        dashboards: Mapping[str, dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(type_token("monitoring", "Monitoring"), name, None, opts)
        group = group or name
        extra = {"depends_on": cluster.after(PROMETHEUS_RELEASE)}
        if cluster.kubernetes is not None:
            extra["provider"] = cluster.kubernetes
        self.monitors = []
        for target in targets:
            manifest = target.manifest()
            metadata = {**manifest["metadata"], "namespace": cluster.namespaces[target.layer]}
            self.monitors.append(
                k8s.apiextensions.CustomResource(
                    f"{name}-{target.name}-{target.kind.lower()}",
                    api_version=manifest["apiVersion"],
                    kind=manifest["kind"],
                    metadata=metadata,
                    spec=manifest["spec"],
                    opts=child_options(self, **extra),
                )
            )
        self.rules = None
        if rules:
            self.rules = k8s.apiextensions.CustomResource(
                f"{name}-rules",
                api_version="monitoring.coreos.com/v1",
                kind="PrometheusRule",
                metadata={"name": group, "namespace": cluster.namespaces["monitoring"]},
                spec={"groups": [{"name": group, "rules": [rule.rule(cluster.runbook_base) for rule in rules]}]},
                opts=child_options(self, **extra),
            )
        self.dashboards = []
        for file_name, dashboard in sorted((dashboards or {}).items()):
            stem = file_name.removesuffix(".json")
            self.dashboards.append(k8s.core.v1.ConfigMap(
                f"{name}-dashboard-{stem}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=f"grafana-dashboard-{stem}", namespace=cluster.namespaces["monitoring"],
                    labels={**DASHBOARD_LABEL, "app.kubernetes.io/part-of": "dataplatform"},
                    annotations=FOLDER_ANNOTATION,
                ),
                data={file_name: dashboard_json(dashboard)},
                opts=cluster.options(self),
            ))
        alerts = [rule.alert for rule in rules if isinstance(rule, AlertRule)]
        self.register_outputs({"monitors": [target.name for target in targets], "alerts": alerts})
