"""The runtime's vendor-documented flows: cert-manager, the CloudNativePG and ECK operators, cluster DNS, the API
server and the in-cluster deployer (docs/decisions/0001-deployment-topology.md).

Pure data (components/kit/flows.py); components/platform.py lists it with the products' tables. The operators'
flows to the pods they manage (CloudNativePG instances, Elasticsearch nodes) name those pods by catalog service.
"""

from __future__ import annotations

from components.kit.flows import (
    AWS_APIS,
    KUBERNETES_API,
    Endpoint,
    Flow,
    FlowTable,
    Outside,
    Port,
    Service,
    Workload,
    chart_source,
)
from components.runtime.config import KubernetesConfig, PrometheusReader
from infra.model.naming import PROMETHEUS_READER_PORT

_CERT_MANAGER = "deploy/charts/cert-manager/"
_CNPG = "charts/cloudnative-pg/"
_ECK = "deploy/eck-operator/"


def _cert_manager(path: str) -> str:
    return chart_source("cert-manager/cert-manager", "v1.21.1", _CERT_MANAGER + path)


def _cnpg(path: str) -> str:
    return chart_source("cloudnative-pg/charts", "cloudnative-pg-v0.29.0", _CNPG + path)


def _eck(path: str) -> str:
    return chart_source("elastic/cloud-on-k8s", "v3.5.0", _ECK + path)


# The catalog's one service for the controllers in `dp-system` (cert-manager, CloudNativePG, ECK).
OPERATORS = "operators"
API_SERVER_DOC = "https://kubernetes.io/docs/tasks/run-application/access-api-from-pod/"
DNS_DOC = "https://kubernetes.io/docs/concepts/services-networking/dns-pod-service/"
WEBHOOK_DOC = "https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/"
# Clients dial `kubernetes.default.svc:443`; after the Service's translation, which is what a NetworkPolicy
# judges, the API server's endpoints listen on 443 (managed clusters) or 6443 (kubeadm, kind).
API_SERVER_PORTS = (443, 6443)

COREDNS = Workload(
    "coredns", None, {"k8s-app": "kube-dns"}, (Port(53, "UDP"), Port(53), Port(9153)),
    source="https://github.com/coredns/deployment/blob/master/kubernetes/coredns.yaml.sed",
    service="kube-dns", namespace="kube-system",
)
CERT_MANAGER = Workload(
    "cert-manager", "system",
    {"app.kubernetes.io/name": "cert-manager", "app.kubernetes.io/instance": "cert-manager",
     "app.kubernetes.io/component": "controller"},
    (Port(9402), Port(9403)), source=_cert_manager("templates/deployment.yaml"), service=OPERATORS,
)
CERT_MANAGER_WEBHOOK = Workload(
    "cert-manager-webhook", "system",
    {"app.kubernetes.io/name": "webhook", "app.kubernetes.io/instance": "cert-manager",
     "app.kubernetes.io/component": "webhook"},
    (Port(10250), Port(6080), Port(9402)), source=_cert_manager("templates/webhook-deployment.yaml"), service=OPERATORS,
)
CERT_MANAGER_CAINJECTOR = Workload(
    "cert-manager-cainjector", "system",
    {"app.kubernetes.io/name": "cainjector", "app.kubernetes.io/instance": "cert-manager",
     "app.kubernetes.io/component": "cainjector"},
    (Port(9402),), source=_cert_manager("templates/cainjector-deployment.yaml"), service=OPERATORS,
)
CERT_MANAGER_STARTUPAPICHECK = Workload(
    "cert-manager-startupapicheck", "system",
    {"app.kubernetes.io/name": "startupapicheck", "app.kubernetes.io/instance": "cert-manager",
     "app.kubernetes.io/component": "startupapicheck"},
    source=_cert_manager("templates/startupapicheck-job.yaml"),
)
CLOUDNATIVE_PG = Workload(
    "cloudnative-pg-operator", "system",
    {"app.kubernetes.io/name": "cloudnative-pg", "app.kubernetes.io/instance": "cloudnative-pg"},
    (Port(8080), Port(9443)), source=_cnpg("templates/deployment.yaml"), service=OPERATORS,
)
ECK_OPERATOR = Workload(
    "elastic-operator", "system",
    {"app.kubernetes.io/name": "elastic-operator", "app.kubernetes.io/instance": "elastic-operator"},
    # 8080: the metrics port the runtime sets (`config.metrics.port`); 9443: the validating webhook.
    (Port(8080), Port(9443)), source=_eck("templates/statefulset.yaml"), service=OPERATORS,
)
STATE_BACKEND = Outside("state-backend", "the stacks' Pulumi state backend (Pulumi Cloud or an object store)")
DEPLOYER = Workload(
    "deployer", "deploy", {"app.kubernetes.io/name": "deployer"},
    source="docs/decisions/0001-deployment-topology.md", service="deployer",
)


# The labels of a Grafana's pods are what its chart gives them (grafana/helm-charts, `grafana.selectorLabels`); the
# stack config says which (`kubernetes.prometheusReaders.<name>.podLabels`).
GRAFANA_LABELS_SOURCE = "https://github.com/grafana/helm-charts/blob/main/charts/grafana/templates/_helpers.tpl"
READERS_SOURCE = "docs/decisions/0057-prometheus-readers.md"


def prometheus_reader(name: str, settings: PrometheusReader) -> Workload | Outside:
    """A reader of Prometheus's API (`kubernetes.prometheusReaders.<name>`): its pods in its namespace, or its
    addresses outside the pod network."""
    if settings.namespace is not None:
        return Workload(f"prometheus-reader-{name}", None, dict(settings.pod_labels), source=GRAFANA_LABELS_SOURCE,
                        namespace=settings.namespace)
    return Outside(f"prometheus-reader-{name}", f"the addresses Prometheus reader `{name}` connects from",
                   f"kubernetes.prometheusReaders.{name}.cidrs")


def _api(client: Workload, why: str, source: str) -> Flow:
    return Flow(client, Service(KUBERNETES_API.name), None, why, source)


def flow_table(config: KubernetesConfig, on_aws: bool) -> FlowTable:
    """The runtime's pods and flows in a stack with this config; `on_aws`: the stack declares AWS resources."""
    workloads: list[Workload] = [COREDNS, ECK_OPERATOR, DEPLOYER]
    flows: list[Flow] = [
        _api(ECK_OPERATOR, "reconciles Elasticsearch resources", _eck("templates/operator-network-policy.yaml")),
        Flow(KUBERNETES_API, ECK_OPERATOR, 9443, "the API server calls the validating webhook",
             _eck("templates/operator-network-policy.yaml")),
        Flow(ECK_OPERATOR, Service("elasticsearch"), 9200, "manages the cluster over its HTTP API",
             _eck("templates/operator-network-policy.yaml")),
        Flow(Service("prometheus"), ECK_OPERATOR, 8080, "the chart's ServiceMonitor scrapes the operator's metrics",
             _eck("templates/service-monitor.yaml")),
        _api(DEPLOYER, "`pulumi up` declares every Kubernetes object", "docs/decisions/0001-deployment-topology.md"),
        Flow(DEPLOYER, STATE_BACKEND, 443, "`pulumi up` reads and writes the stack's state",
             "https://www.pulumi.com/docs/iac/concepts/state-and-backends/"),
        Flow(DEPLOYER, Service("object-store"), None, "the MinIO provider creates buckets, users and policies",
             "docs/decisions/0001-deployment-topology.md"),
        Flow(DEPLOYER, Service("postgresql"), None, "the PostgreSQL provider creates roles, databases and grants",
             "docs/decisions/0001-deployment-topology.md"),
        Flow(DEPLOYER, Service("elasticsearch"), 9200, "the Elasticsearch provider writes templates, ILM and roles",
             "docs/decisions/0001-deployment-topology.md"),
        Flow(DEPLOYER, Service("dremio"), 9047, "the Dremio provider configures sources, users and grants",
             "docs/decisions/0001-deployment-topology.md"),
        Flow(DEPLOYER, Service("airbyte"), 8443, "the Airbyte provider declares sources and connections",
             "docs/decisions/0001-deployment-topology.md"),
        Flow(DEPLOYER, Service("superset"), 8088, "the Superset provider declares databases, roles and datasets",
             "docs/decisions/0001-deployment-topology.md"),
    ]
    for name, settings in sorted(config.prometheus_readers.items()):
        reader = prometheus_reader(name, settings)
        if isinstance(reader, Workload):
            workloads.append(reader)
        flows.append(Flow(reader, Service("prometheus"), PROMETHEUS_READER_PORT,
                          f"{name} queries Prometheus's API through its authenticating TLS front", READERS_SOURCE))
    if on_aws:
        flows.append(Flow(DEPLOYER, AWS_APIS, 443, "the AWS provider declares the stack's AWS resources",
                          "https://docs.aws.amazon.com/general/latest/gr/rande.html"))
    if config.install_cert_manager:
        workloads += [CERT_MANAGER, CERT_MANAGER_WEBHOOK, CERT_MANAGER_CAINJECTOR, CERT_MANAGER_STARTUPAPICHECK]
        egress = _cert_manager("values.yaml")  # `networkPolicy.egress`: the API server on 443 or 6443
        flows += [
            _api(CERT_MANAGER, "issues certificates: watches and writes Certificates, Secrets and Orders", egress),
            _api(CERT_MANAGER_WEBHOOK, "reads its serving CA and the resources it validates", egress),
            _api(CERT_MANAGER_CAINJECTOR, "injects CA bundles into webhook and CRD objects", egress),
            _api(CERT_MANAGER_STARTUPAPICHECK, "checks the API accepts cert-manager resources after install",
                 _cert_manager("templates/startupapicheck-job.yaml")),
            Flow(KUBERNETES_API, CERT_MANAGER_WEBHOOK, 10250, "the API server calls the admission webhook",
                 "https://cert-manager.io/docs/concepts/webhook/"),
            Flow(Service("prometheus"), CERT_MANAGER, 9402, "the runtime's ServiceMonitor scrapes the controller",
                 _cert_manager("templates/service.yaml")),
        ]
    if config.install_cloudnative_pg:
        workloads.append(CLOUDNATIVE_PG)
        networking = "https://cloudnative-pg.io/documentation/current/networking/"
        flows += [
            _api(CLOUDNATIVE_PG, "reconciles Clusters, Backups and their pods",
                 "https://cloudnative-pg.io/documentation/current/security/"),
            Flow(KUBERNETES_API, CLOUDNATIVE_PG, 9443, "the API server calls the mutating and validating webhooks",
                 _cnpg("values.yaml")),
            Flow(CLOUDNATIVE_PG, Service("postgresql"), 8000, "polls each instance manager's status endpoint",
                 networking),
            Flow(CLOUDNATIVE_PG, Service("postgresql"), 5432, "connects to each instance", networking),
            Flow(Service("prometheus"), CLOUDNATIVE_PG, 8080, "the runtime's PodMonitor scrapes the operator",
                 _cnpg("templates/deployment.yaml")),
        ]
    endpoints = (Endpoint(KUBERNETES_API.name, API_SERVER_PORTS, KUBERNETES_API, API_SERVER_DOC),)
    return FlowTable("runtime", tuple(workloads), tuple(flows), endpoints)


def dns_flows(workloads: tuple[Workload, ...]) -> tuple[Flow, ...]:
    """Every pod resolves service names through the cluster DNS, over UDP and TCP."""
    return tuple(
        Flow(workload, COREDNS, 53, "resolves service names", DNS_DOC, protocol)
        for workload in workloads if workload is not COREDNS for protocol in ("UDP", "TCP")
    )
