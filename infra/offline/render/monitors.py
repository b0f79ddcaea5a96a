"""Whether each scrape the stack declares reaches something: ServiceMonitors and PodMonitors against the Services
and pods the charts render and the program declares, and the Prometheus that should pick them up.

The Prometheus Operator turns a ServiceMonitor into scrape jobs for the endpoints of the Services its `selector`
matches in the namespaces its `namespaceSelector` names (its own namespace when it names none), on the Service
port named by each endpoint's `port`; a PodMonitor does the same for pods and their containers' named ports
(prometheus-operator's API reference, `ServiceMonitorSpec`, `PodMonitorSpec`, `NamespaceSelector`). A Prometheus
picks up the monitors its `serviceMonitorSelector`/`podMonitorSelector` match, in the namespaces its
`...NamespaceSelector` matches (an unset namespace selector: its own namespace only; an empty one: every namespace;
an unset monitor selector: none). A monitor that selects nothing, names a port no selected object has, or that no
Prometheus picks up, scrapes nothing and raises no error anywhere: the series its alerts read never exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from infra.offline.render.problems import Problem

MONITORING_GROUP = "monitoring.coreos.com"
WORKLOAD_TEMPLATES: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"), "StatefulSet": ("spec", "template"), "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"), "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"), "Pod": (),
}


@dataclass(frozen=True)
class StackObject:
    """A Kubernetes object of the stack, rendered by a chart or declared by the program."""

    owner: str
    """The release that renders it, or the program resource that declares it."""
    document: Mapping[str, Any]

    @property
    def kind(self) -> str:
        return str(self.document.get("kind", ""))

    @property
    def group(self) -> str:
        api_version = str(self.document.get("apiVersion", ""))
        return api_version.split("/")[0] if "/" in api_version else ""

    @property
    def metadata(self) -> Mapping[str, Any]:
        return self.document.get("metadata") or {}

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace") or "")

    @property
    def labels(self) -> Mapping[str, str]:
        return self.metadata.get("labels") or {}

    @property
    def spec(self) -> Mapping[str, Any]:
        return self.document.get("spec") or {}


# Services no release or program resource declares but the cluster has: Kubernetes' own `kubernetes` Service in
# `default` (kube-apiserver's control-plane controller labels it component=apiserver, provider=kubernetes, port
# `https`), and the kubelet Service the Prometheus Operator maintains when it runs with `--kubelet-service=<ns>/<name>`
# (prometheus-operator pkg/kubelet: labels app.kubernetes.io/name=kubelet, k8s-app=kubelet,
# app.kubernetes.io/managed-by=prometheus-operator; ports https-metrics 10250, http-metrics 10255, cadvisor 4194).
API_SERVER_SERVICE = {
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "kubernetes", "namespace": "default",
                 "labels": {"component": "apiserver", "provider": "kubernetes"}},
    "spec": {"ports": [{"name": "https", "port": 443}]},
}
KUBELET_SERVICE_FLAG = "--kubelet-service="
# The instance pods CloudNativePG creates for a `Cluster` (postgresql.cnpg.io): labelled `cnpg.io/cluster: <name>` and
# `cnpg.io/podRole: instance` (its docs, "Labels and annotations"), the exporter on the port named `metrics`, 9187
# (its docs, "Monitoring"), PostgreSQL on `postgresql` 5432 and the instance manager's status on `status` 8000.
CNPG_CLUSTER = ("postgresql.cnpg.io", "Cluster")
CNPG_INSTANCE_PORTS = ({"name": "postgresql", "containerPort": 5432}, {"name": "metrics", "containerPort": 9187},
                       {"name": "status", "containerPort": 8000})


def cluster_provided(objects: Iterable[StackObject]) -> list[StackObject]:
    """The Services and pods the cluster and the stack's operators create, which monitors may select."""
    objects = list(objects)
    provided = [StackObject("kubernetes", API_SERVER_SERVICE)]
    for item in objects:
        if (item.group, item.kind) == CNPG_CLUSTER:
            provided.append(StackObject(item.owner, {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": f"{item.name}-1", "namespace": item.namespace,
                             "labels": {"cnpg.io/cluster": item.name, "cnpg.io/podRole": "instance"}},
                "spec": {"containers": [{"name": "postgres", "ports": [dict(port) for port in CNPG_INSTANCE_PORTS]}]},
            }))
    for workload, template in pod_templates(objects):
        for container in (template.get("spec") or {}).get("containers") or []:
            for argument in container.get("args") or []:
                if isinstance(argument, str) and argument.startswith(KUBELET_SERVICE_FLAG):
                    namespace, _, name = argument[len(KUBELET_SERVICE_FLAG):].partition("/")
                    provided.append(StackObject(workload.owner, {
                        "apiVersion": "v1", "kind": "Service",
                        "metadata": {"name": name, "namespace": namespace, "labels": {
                            "app.kubernetes.io/name": "kubelet", "k8s-app": "kubelet",
                            "app.kubernetes.io/managed-by": "prometheus-operator"}},
                        "spec": {"ports": [{"name": "https-metrics", "port": 10250},
                                           {"name": "http-metrics", "port": 10255},
                                           {"name": "cadvisor", "port": 4194}]},
                    }))
    return provided


def _dig(value: Any, path: Iterable[str]) -> Any:
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def matches(selector: Any, labels: Mapping[str, str]) -> bool:
    """A label selector (matchLabels, matchExpressions In/NotIn/Exists/DoesNotExist) against labels."""
    if not isinstance(selector, Mapping):
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        present = key in labels
        if (operator == "In" and labels.get(key) not in values) or (operator == "NotIn" and labels.get(key) in values) \
                or (operator == "Exists" and not present) or (operator == "DoesNotExist" and present):
            return False
    return True


def _monitor_namespaces(monitor: StackObject) -> set[str] | None:
    """The namespaces a monitor looks in; None: every namespace."""
    selector = monitor.spec.get("namespaceSelector") or {}
    if selector.get("any") is True:
        return None
    return set(selector.get("matchNames") or []) or {monitor.namespace}


def pod_templates(objects: Iterable[StackObject]) -> list[tuple[StackObject, Mapping[str, Any]]]:
    found = []
    for item in objects:
        path = WORKLOAD_TEMPLATES.get(item.kind)
        if path is None or item.group not in ("", "apps", "batch"):
            continue
        template = _dig(item.document, path) if path else item.document
        if isinstance(template, Mapping):
            found.append((item, template))
    return found


def _container_ports(template: Mapping[str, Any]) -> set[str]:
    spec = template.get("spec") or {}
    return {str(port.get("name")) for container in (spec.get("containers") or []) + (spec.get("initContainers") or [])
            for port in (container.get("ports") or []) if port.get("name")}


def _selected_by_a_prometheus(monitor: StackObject, prometheuses: list[StackObject], namespaces: Mapping[str, Any]
                              ) -> bool:
    selector_key = "serviceMonitorSelector" if monitor.kind == "ServiceMonitor" else "podMonitorSelector"
    namespace_key = f"{selector_key[:-len('Selector')]}NamespaceSelector"
    for prometheus in prometheuses:
        selector = prometheus.spec.get(selector_key)
        if selector is None or not (selector == {} or matches(selector, monitor.labels)):
            continue
        namespace_selector = prometheus.spec.get(namespace_key)
        if namespace_selector is None:
            if monitor.namespace == prometheus.namespace:
                return True
        elif namespace_selector == {} or matches(namespace_selector, namespaces.get(monitor.namespace, {})):
            return True
    return False


def scrape_problems(objects: list[StackObject], namespace_labels: Mapping[str, Mapping[str, str]]) -> list[Problem]:
    """Every monitor that selects nothing, names a port nothing it selects has, or that no Prometheus picks up.
    `namespace_labels`: the labels of the stack's namespaces (the kubelet adds `kubernetes.io/metadata.name`)."""
    problems = []
    objects = [*objects, *cluster_provided(objects)]
    services = [item for item in objects if item.kind == "Service" and item.group == ""]
    pods = pod_templates(objects)
    prometheuses = [item for item in objects if item.kind == "Prometheus" and item.group == MONITORING_GROUP]
    monitors = [item for item in objects if item.kind in ("ServiceMonitor", "PodMonitor")
                and item.group == MONITORING_GROUP]
    for monitor in sorted(monitors, key=lambda item: (item.namespace, item.kind, item.name)):
        label = f"{monitor.kind} {monitor.namespace}/{monitor.name}"
        key = f"{monitor.namespace}/{monitor.kind}/{monitor.name}"
        where = _monitor_namespaces(monitor)
        selector = monitor.spec.get("selector") or {}
        if monitor.kind == "ServiceMonitor":
            chosen = [service for service in services
                      if (where is None or service.namespace in where) and matches(selector, service.labels)]
            selected = [(service.name, {str(port.get("name")) for port in (service.spec.get("ports") or [])})
                        for service in chosen]
            endpoints, what = monitor.spec.get("endpoints") or [], "Service"
            problems += _same_pods_twice(monitor, label, key, chosen, endpoints)
        else:
            selected = [(workload.name, _container_ports(template)) for workload, template in pods
                        if (where is None or workload.namespace in where)
                        and matches(selector, (template.get("metadata") or {}).get("labels") or {})]
            endpoints, what = monitor.spec.get("podMetricsEndpoints") or [], "pod"
        if not selected:
            problems.append(Problem("scrape", monitor.owner, f"{key}:selects-nothing",
                                    f"{label} selects no {what} of the stack ({selector}): it scrapes nothing"))
        else:
            offered = sorted({port for _, ports in selected for port in ports})
            for endpoint in endpoints:
                port = endpoint.get("port")
                if port is not None and all(str(port) not in ports for _, ports in selected):
                    names = ", ".join(name for name, _ in selected)
                    problems.append(Problem("scrape", monitor.owner, f"{key}:port:{port}",
                                            f"{label} scrapes port {port!r}, which no {what} it selects ({names}) "
                                            f"names; they name {', '.join(offered) or 'no port'}"))
        if prometheuses and not _selected_by_a_prometheus(monitor, prometheuses, namespace_labels):
            problems.append(Problem("scrape", monitor.owner, f"{key}:not-picked-up",
                                    f"{label} is not selected by the Prometheus of the stack (its monitor and "
                                    "namespace selectors): nothing scrapes it"))
    return problems


def _same_pods_twice(monitor: StackObject, label: str, key: str, chosen: list[StackObject],
                     endpoints: list[Any]) -> list[Problem]:
    """Services that select the same pods and name the endpoint's port differently make the monitor scrape those
    pods on each of their target ports: a broad selector that also catches, say, a console Service."""
    problems = []
    for endpoint in endpoints:
        port = endpoint.get("port")
        by_pods: dict[tuple, dict[str, str]] = {}
        for service in chosen:
            for entry in service.spec.get("ports") or []:
                if entry.get("name") == port:
                    pods = (service.namespace, tuple(sorted((service.spec.get("selector") or {}).items())))
                    by_pods.setdefault(pods, {})[service.name] = str(entry.get("targetPort", entry.get("port")))
        for targets in by_pods.values():
            if len(set(targets.values())) > 1:
                shown = ", ".join(f"{name} -> {target}" for name, target in sorted(targets.items()))
                problems.append(Problem("scrape", monitor.owner, f"{key}:port:{port}:twice",
                                        f"{label} scrapes the same pods on several ports named {port!r} ({shown}): "
                                        "its selector also catches a Service that is not the metrics one"))
    return problems


def alerting_problems(objects: list[StackObject]) -> list[Problem]:
    """Each Prometheus's Alertmanager endpoints against the Alertmanagers they reach: an Alertmanager whose web
    server has a `tlsConfig` serves HTTPS only, so the endpoint's `scheme` must be `https` (the operator's default is
    `http`; prometheus-operator's API reference, `AlertmanagerEndpoints` and `AlertmanagerWebSpec`)."""
    problems = []
    services = {(item.namespace, item.name): item for item in objects if item.kind == "Service" and item.group == ""}
    alertmanagers = [item for item in objects if item.kind == "Alertmanager" and item.group == MONITORING_GROUP]
    for prometheus in (item for item in objects if item.kind == "Prometheus" and item.group == MONITORING_GROUP):
        for endpoint in (prometheus.spec.get("alerting") or {}).get("alertmanagers") or []:
            namespace = endpoint.get("namespace") or prometheus.namespace
            service = services.get((namespace, str(endpoint.get("name"))))
            selector = (service.spec.get("selector") or {}) if service else {}
            reached = [manager for manager in alertmanagers if manager.namespace == namespace and (
                manager.name == endpoint.get("name") or selector.get("alertmanager") == manager.name)]
            for manager in reached:
                if (manager.spec.get("web") or {}).get("tlsConfig") and endpoint.get("scheme", "http") != "https":
                    problems.append(Problem(
                        "alerting", prometheus.owner, f"{prometheus.namespace}/{prometheus.name}:{namespace}/"
                        f"{endpoint.get('name')}:scheme",
                        f"Prometheus {prometheus.namespace}/{prometheus.name} sends alerts to {namespace}/"
                        f"{endpoint.get('name')} over {endpoint.get('scheme', 'http')}, but Alertmanager "
                        f"{manager.name} serves HTTPS only (web.tlsConfig): no alert is delivered"))
    return problems
