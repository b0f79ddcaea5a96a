"""The monitoring layer's vendor-documented flows: the Prometheus Operator, Prometheus, Alertmanager and
kube-state-metrics of kube-prometheus-stack (the runtime releases it), and the scrapes its chart declares.

What Prometheus scrapes of other products (their ServiceMonitors and PodMonitors) is in each product's table;
this one holds the chart's own: kube-state-metrics, the kubelets, the API server, CoreDNS and the operator.
Pure data (components/kit/flows.py); components/platform.py lists it.
"""

from __future__ import annotations

from components.kit.flows import (
    KUBERNETES_API,
    NODES,
    Flow,
    FlowTable,
    Outside,
    Port,
    Service,
    Workload,
    chart_source,
)
from infra.model.naming import PROMETHEUS_READER_PORT

RELEASE = "prometheus"
OPERATOR_PORT = 10250  # `prometheusOperator.tls.internalPort`: the operator's TLS port, webhook and metrics
ALERTMANAGER_PORT = 9093
ALERTMANAGER_CLUSTER_PORT = 9094
KUBELET_PORT = 10250
# Where the installed Alertmanager delivers (`alerting.receivers`): the webhooks' hosts and the e-mail relays.
ALERT_WEBHOOK = Outside("alert-webhook", "the hosts of the webhook receivers' URLs (`alerting.receivers`)")
SMTP = Outside("smtp", "the SMTP relays of the e-mail receivers (`alerting.receivers`)")
RECEIVERS_SOURCE = "https://prometheus.io/docs/alerting/latest/configuration/#receiver-integration-settings"


def _chart(path: str) -> str:
    return chart_source("prometheus-community/helm-charts", "kube-prometheus-stack-88.5.3",
                        "charts/kube-prometheus-stack/" + path)


def _kube_state_metrics(path: str) -> str:
    return chart_source("prometheus-community/helm-charts", "kube-state-metrics-8.4.0",
                        "charts/kube-state-metrics/" + path)


OPERATOR_SOURCE = "https://github.com/prometheus-operator/prometheus-operator/blob/main/Documentation/platform/operator.md"
OPERATOR = Workload(
    "prometheus-operator", "monitoring", {"app": "kube-prometheus-stack-operator", "release": RELEASE},
    (Port(OPERATOR_PORT),), source=_chart("templates/prometheus-operator/deployment.yaml"),
    service="prometheus-operator",
)
KUBE_STATE_METRICS = Workload(
    "kube-state-metrics", "monitoring",
    {"app.kubernetes.io/name": "kube-state-metrics", "app.kubernetes.io/instance": RELEASE},
    (Port(8080), Port(8081)), source=_kube_state_metrics("templates/deployment.yaml"),
)


def prometheus(replicas: int, front: bool = False) -> Workload:
    """Prometheus's pods, as the operator labels them; 8080 is its config reloader, and `front` adds the port of the
    readers' authenticating TLS front (components/runtime/prometheus_front.py), a container of the same pods."""
    front_ports = (Port(PROMETHEUS_READER_PORT),) if front else ()
    return Workload(
        "prometheus", "monitoring",
        {"app.kubernetes.io/name": "prometheus", "operator.prometheus.io/name": f"{RELEASE}-prometheus"},
        (Port(9090), Port(8080), *front_ports), source=_chart("templates/prometheus/networkpolicy.yaml"),
        service="prometheus", replicas=min(replicas, 2),
    )


def alertmanager(replicas: int) -> Workload:
    """Alertmanager's pods: 9093 the API, 9094 the cluster gossip (TCP and UDP), 8080 the config reloader."""
    return Workload(
        "alertmanager", "monitoring",
        {"app.kubernetes.io/name": "alertmanager", "alertmanager": f"{RELEASE}-alertmanager"},
        (Port(ALERTMANAGER_PORT), Port(ALERTMANAGER_CLUSTER_PORT), Port(ALERTMANAGER_CLUSTER_PORT, "UDP"), Port(8080)),
        source=_chart("templates/alertmanager/networkpolicy.yaml"), service="alertmanager", replicas=min(replicas, 2),
    )


def flow_table(install_alertmanager: bool, replicas: int, webhook_ports: tuple[int, ...] = (),
               smtp_ports: tuple[int, ...] = (), front: bool = False) -> FlowTable:
    """The monitoring layer's pods and flows; Alertmanager only where the stack installs it, and its receivers
    (`alerting.receivers`) on the ports their webhooks and relays name; `front`: Prometheus's pods also serve its
    readers' authenticating front (the runtime's table has the readers and their flows)."""
    server = prometheus(replicas, front)
    api = Service(KUBERNETES_API.name)
    workloads = [OPERATOR, server, KUBE_STATE_METRICS]
    flows = [
        Flow(OPERATOR, api, None, "reconciles Prometheus, Alertmanager and monitor resources", OPERATOR_SOURCE),
        Flow(KUBERNETES_API, OPERATOR, OPERATOR_PORT, "the API server calls the operator's admission webhook",
             _chart("templates/prometheus-operator/networkpolicy.yaml")),
        # The same connection serves the chart's API server ServiceMonitor
        # (templates/exporters/kube-api-server/servicemonitor.yaml).
        Flow(server, api, None, "discovers scrape targets through the API (kubernetes_sd_configs)",
             "https://prometheus.io/docs/prometheus/latest/configuration/configuration/#kubernetes_sd_config"),
        Flow(KUBE_STATE_METRICS, api, None, "lists and watches the objects it exports",
             "https://github.com/kubernetes/kube-state-metrics/blob/main/README.md"),
        Flow(server, KUBE_STATE_METRICS, 8080, "the chart's ServiceMonitor scrapes kube-state-metrics",
             _chart("values.yaml")),
        Flow(server, NODES, KUBELET_PORT, "the chart's kubelet ServiceMonitor scrapes every node (cAdvisor too)",
             _chart("templates/exporters/kubelet/servicemonitor.yaml")),
        Flow(server, Service("kube-dns"), 9153, "the chart's ServiceMonitor scrapes CoreDNS",
             _chart("templates/exporters/core-dns/service.yaml")),
        Flow(server, OPERATOR, OPERATOR_PORT, "the operator's ServiceMonitor (selfMonitor) scrapes it over TLS",
             _chart("templates/prometheus-operator/servicemonitor.yaml")),
    ]
    if install_alertmanager:
        alerts = alertmanager(replicas)
        workloads.append(alerts)
        flows.append(Flow(server, alerts, ALERTMANAGER_PORT, "sends firing alerts",
                          _chart("templates/alertmanager/networkpolicy.yaml")))
        flows += [Flow(alerts, ALERT_WEBHOOK, port, "delivers alerts to a webhook receiver", RECEIVERS_SOURCE)
                  for port in webhook_ports]
        flows += [Flow(alerts, SMTP, port, "delivers alerts by e-mail through the relay", RECEIVERS_SOURCE)
                  for port in smtp_ports]
        if replicas > 1:
            gossip = "https://prometheus.io/docs/alerting/latest/alertmanager/#high-availability"
            flows += [Flow(alerts, alerts, ALERTMANAGER_CLUSTER_PORT, "replicas gossip silences and notifications",
                           gossip, protocol) for protocol in ("TCP", "UDP")]
    return FlowTable("monitoring", tuple(workloads), tuple(flows))
