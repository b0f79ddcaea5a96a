"""NetworkPolicies generated from the products' flow tables: default deny in every layer namespace, then, for each
workload, one policy of the egress it needs and one of the ingress it serves.

Pure: builds manifests (dicts in the Kubernetes API's shape) and creates no resources; `KubernetesRuntime`
declares them. The flows come from each product's vendor-documented table (components/kit/flows.py,
`components/<product>/flows.py`, listed by components/platform.py `flow_tables`), never from a second reading of
the catalog. A policy selects its workload's pods by the labels their vendor gives them, and names its peers the same
way; a workload whose labels are a subset of another's in the same namespace (Superset's web pods and its init Job)
excludes a label value only the other carries (`NotIn`), so that neither takes the other's allowances.

Addresses outside the pod network (the API server, the nodes' kubelets, the sources, cloud endpoints) are CIDRs from
the stack config, keyed by the config path each `Outside` names (`networks`); `0.0.0.0/0` appears only where the
config says so. Pods outside the layer namespaces (CoreDNS) are peers only: their namespaces are not the platform's.

Example::

    manifests = network_policies(flow_tables(config, catalog), outside_networks(config))
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from components.kit.flows import Flow, FlowTable, Outside, Service, Workload
from infra.model.naming import LAYER_NAMESPACES, namespace_name

LABELS = {"app.kubernetes.io/managed-by": "pulumi", "dataplatform/policy": "network"}
PLATFORM_NAMESPACES = tuple(namespace_name(layer) for layer in LAYER_NAMESPACES)


class NetworkTableError(ValueError):
    """The flow tables name a peer that cannot be resolved in this stack (a table's error, not the user's)."""


@dataclass(frozen=True)
class Pods:
    """A workload's pods as a NetworkPolicy selects them."""

    workload: Workload
    selector: tuple[tuple[str, str], ...]
    excluded: tuple[tuple[str, tuple[str, ...]], ...]
    """Label values the pods must not carry: another workload of the namespace adds that label to these labels."""

    @property
    def namespace(self) -> str:
        return self.workload.namespace_name

    def pod_selector(self) -> dict:
        selector: dict = {"matchLabels": dict(self.selector)}
        if self.excluded:
            selector["matchExpressions"] = [{"key": key, "operator": "NotIn", "values": list(values)}
                                            for key, values in self.excluded]
        return selector

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a pod with these labels is selected, as the API server reads `pod_selector()`."""
        return all(labels.get(key) == value for key, value in self.selector) and \
            all(labels.get(key) not in values for key, values in self.excluded)

    def peer(self) -> dict:
        return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": self.namespace}},
                "podSelector": self.pod_selector()}


@dataclass(frozen=True)
class Addresses:
    """An endpoint outside the pod network, at the CIDRs the stack config gives it."""

    outside: Outside
    cidrs: tuple[str, ...]

    def peers(self) -> list[dict]:
        return [{"ipBlock": {"cidr": cidr}} for cidr in self.cidrs]


End = Pods | Addresses


def selectors(workloads: Iterable[Workload]) -> dict[str, Pods]:
    """Each workload's selector: its labels, minus the pods of any workload of the same namespace labelled more."""
    workloads = list(workloads)
    found = {}
    for workload in workloads:
        labels = dict(workload.labels)
        excluded: dict[str, set[str]] = {}
        for other in workloads:
            if other is workload or other.namespace_name != workload.namespace_name:
                continue
            if labels.items() < dict(other.labels).items():
                # One label the other's pods carry and these lack tells them apart (NotIn also admits pods that lack
                # the label, as these do).
                key = min(set(other.labels) - set(labels))
                excluded.setdefault(key, set()).add(other.labels[key])
        found[workload.name] = Pods(workload, tuple(sorted(labels.items())),
                                    tuple((key, tuple(sorted(values))) for key, values in sorted(excluded.items())))
    return found


@dataclass(frozen=True)
class Resolver:
    """Turns a flow's ends into the pods or addresses a policy names."""

    pods: dict[str, Pods]
    endpoints: dict[str, object]
    networks: Mapping[str, tuple[str, ...]]

    @classmethod
    def of(cls, tables: Iterable[FlowTable], networks: Mapping[str, tuple[str, ...]]) -> Resolver:
        tables = tuple(tables)
        workloads = [workload for table in tables for workload in table.workloads]
        endpoints = {endpoint.service: endpoint for table in tables for endpoint in table.endpoints}
        return cls(selectors(workloads), endpoints, networks)

    def addresses(self, outside: Outside) -> Addresses:
        cidrs = tuple(self.networks.get(outside.key) or ())
        if not cidrs:
            raise NetworkTableError(f"no addresses for {outside.name} ({outside.description}): set {outside.key}")
        return Addresses(outside, cidrs)

    def ports(self, flow: Flow) -> tuple[int, ...]:
        if flow.port is not None:
            return (flow.port,)
        endpoint = self.endpoints.get(flow.server.name)
        if endpoint is None:
            raise NetworkTableError(f"flow to {flow.server.name}: no table says where it is reached in this stack")
        return tuple(endpoint.ports)

    def ends(self, peer: Workload | Service | Outside, protocol: str, port: int, serving: bool) -> list[End]:
        """The pods or addresses at one end of a flow on `port`; as a server, only pods listening on it."""
        if isinstance(peer, Outside):
            return [self.addresses(peer)]
        if isinstance(peer, Workload):
            return [self.pods[peer.name]]
        endpoint = self.endpoints.get(peer.name)
        if endpoint is not None and endpoint.outside is not None:
            return [self.addresses(endpoint.outside)]
        return [pods for pods in self.pods.values() if pods.workload.service == peer.name
                and (not serving or any((p.protocol, p.number) == (protocol, port) for p in pods.workload.ports))]


def _ports(ports: set[tuple[str, int]]) -> list[dict]:
    return [{"protocol": protocol, "port": port} for protocol, port in sorted(ports)]


def _key(end: End) -> tuple:
    if isinstance(end, Pods):
        return (0, end.namespace, end.workload.name)
    return (1, end.outside.name, "")


def network_policies(tables: Iterable[FlowTable], networks: Mapping[str, tuple[str, ...]]) -> list[dict]:
    """Every NetworkPolicy manifest of the platform, in a stable order: each layer's default deny, then per workload
    (by namespace and name) its egress and its ingress policy. Raises NetworkTableError for an unresolvable flow."""
    tables = tuple(tables)
    resolver = Resolver.of(tables, networks)
    egress: dict[str, dict[tuple, tuple[End, set]]] = defaultdict(dict)
    ingress: dict[str, dict[tuple, tuple[End, set]]] = defaultdict(dict)
    for table in tables:
        for flow in table.flows:
            for port in resolver.ports(flow):
                clients = resolver.ends(flow.client, flow.protocol, port, serving=False)
                servers = resolver.ends(flow.server, flow.protocol, port, serving=True)
                if not clients or not servers:
                    raise NetworkTableError(f"flow {flow.why!r} ({table.product}) reaches no pod on {port}")
                for client in clients:
                    for server in servers:
                        if isinstance(client, Pods) and client.namespace in PLATFORM_NAMESPACES:
                            _, ports = egress[client.workload.name].setdefault(_key(server), (server, set()))
                            ports.add((flow.protocol, port))
                        if isinstance(server, Pods) and server.namespace in PLATFORM_NAMESPACES:
                            _, ports = ingress[server.workload.name].setdefault(_key(client), (client, set()))
                            ports.add((flow.protocol, port))
    manifests = [_policy("default-deny", namespace, {}, ["Ingress", "Egress"]) for namespace in PLATFORM_NAMESPACES]
    ordered = sorted(resolver.pods.values(), key=lambda pods: (pods.namespace, pods.workload.name))
    for pods in ordered:
        name = pods.workload.name
        if name in egress:
            rules = [{"to": _peers(end), "ports": _ports(ports)}
                     for _, (end, ports) in sorted(egress[name].items())]
            manifests.append(_policy(f"{name}-egress", pods.namespace, pods.pod_selector(), ["Egress"], egress=rules))
        if name in ingress:
            rules = [{"from": _peers(end), "ports": _ports(ports)}
                     for _, (end, ports) in sorted(ingress[name].items())]
            manifests.append(_policy(f"{name}-ingress", pods.namespace, pods.pod_selector(), ["Ingress"],
                                     ingress=rules))
    return manifests


def _peers(end: End) -> list[dict]:
    return [end.peer()] if isinstance(end, Pods) else end.peers()


def _policy(name: str, namespace: str, selector: dict, types: list[str], **rules: list[dict]) -> dict:
    return {"metadata": {"name": name, "namespace": namespace, "labels": dict(LABELS)},
            "spec": {"podSelector": selector, "policyTypes": types, **rules}}
