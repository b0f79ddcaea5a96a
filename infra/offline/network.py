"""The network check: the NetworkPolicies the program declares, judged by network-config-analyzer against the flows
each product's vendor documents.

    python -m infra.offline.network --stack dev [--out build/network]        # `make network STACK=dev`

The policies are the program's own, as recorded under mocks (components/runtime/network.py generates them from
the products' flow tables). The pods are stand-ins: the program's own workloads (Dremio, the dbt runner, the
migrations Job) with the labels and container ports of their recorded pod templates (which must equal the ports
their table states); a chart's pods as the render stage renders them from the chart cache (full labels, container
ports); the pods operators create at run time, and a chart's that is not cached, with the labels and ports its
vendor documents (each product's `flows.py`, components/kit/flows.py; tests/infra/render/ holds those to what the
charts render).
Addresses outside the pod network (the API server, the nodes, S3, RDS, the sources) are the CIDRs the stack config
gives them. NCA, which reads NetworkPolicies as Kubernetes defines them and shares no code with the generator,
computes which pod may open which port to which pod or address; this module compares that with what is needed and
reports:

- `blocked`: a flow of a product's table that is not allowed (one finding per flow);
- `catalog`: a call the catalog declares (`infra/dataflow.yaml`) that no pod serves, or that nothing allows;
- `selects-nothing`: a policy that selects no pod (a namespace's default deny excepted), or a rule whose peers
  select none (NCA's emptiness query);
- `unserved`: a port allowed to a pod that its containers neither declare nor are documented to listen on;
- `unneeded`: anything else that is allowed: a connection no row of the tables needs (by the workload it reaches,
  or, for what leaves the pod network, by the workload it leaves).

It cannot see what it is not given: NetworkPolicies a chart renders, the pods a chart really renders (until the
render stage feeds them in, the stand-ins are the vendors' documented labels), nor the CNI's own rules (host
network pods, node-local traffic). Writes `<out>/<stack>/` (the YAML given to NCA, its answers and findings.txt);
exit 0 when nothing is found, 1 when something is, 3 when NCA is not installed (`make nca-setup`).
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.kit.flows import Flow, FlowTable, Outside, Service, Workload
from infra.model.catalog import Catalog
from infra.model.config import StackConfig, project_values
from infra.model.inputs import validate_inputs
from infra.model.naming import LAYER_NAMESPACES, namespace_name
from infra.model.stackfiles import REPO_ROOT, load_stack
from infra.offline import nca
from infra.offline.harness import RecordedResource, Recording, run_program

PLATFORM_NAMESPACES = frozenset(namespace_name(layer) for layer in LAYER_NAMESPACES)
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
NAMESPACE = "kubernetes:core/v1:Namespace"
WORKLOAD_KINDS = ("StatefulSet", "Deployment", "DaemonSet", "Job", "CronJob")
KINDS = ("blocked", "catalog", "selects-nothing", "unserved", "unneeded")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class StandIn:
    """A workload's stand-in pods and the (protocol, port) pairs they listen on."""

    workload: Workload
    pods: tuple[nca.Pod, ...]
    labels: dict[str, str] = field(hash=False, compare=False)
    ports: frozenset[tuple[str, int]]
    rendered: bool = False
    """The labels and ports are those of a pod a chart renders (else the recorded object's or the table's)."""

    def manifests(self) -> list[dict[str, Any]]:
        container_ports = [{"containerPort": port, "protocol": protocol} for protocol, port in sorted(self.ports)]
        return [
            {"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": pod.name, "namespace": pod.namespace, "labels": dict(self.labels)},
             "spec": {"containers": [{"name": "main", "image": "stand-in", "ports": container_ports}]}}
            for pod in self.pods
        ]


@dataclass(frozen=True)
class Need:
    """One connection a flow needs, resolved to a pod or an address at each end."""

    source: nca.Pod | Network
    destination: nca.Pod | Network
    protocol: str
    port: int


@dataclass(frozen=True)
class Finding:
    kind: str
    subject: str
    """What the finding is about: a flow's id, `<namespace>/<policy>` or a workload's name."""
    details: tuple[str, ...]

    @property
    def case(self) -> str:
        return f"{self.kind}:{self.subject}"


@dataclass
class NetworkReport:
    stack: str
    findings: list[Finding]
    flows: dict[str, list[Need]]
    """Every table flow's id and what it resolved to (the subjects `blocked` can have)."""
    workloads: list[str]
    policies: list[str]
    rendered: list[str] = field(default_factory=list)
    """Workloads whose stand-ins are pods a chart rendered."""
    documented: list[str] = field(default_factory=list)
    """Chart or operator workloads whose stand-ins carry only their table's labels (not rendered here, or made by
    an operator at run time)."""

    def of(self, kind: str, subject: str) -> Finding | None:
        return next((f for f in self.findings if f.kind == kind and f.subject == subject), None)

    def text(self) -> str:
        counts = {kind: sum(1 for f in self.findings if f.kind == kind) for kind in KINDS}
        lines = [f"network check, stack {self.stack}: {len(self.findings)} findings "
                 f"({', '.join(f'{count} {kind}' for kind, count in counts.items())}); "
                 f"{len(self.flows)} flows, {len(self.workloads)} workloads, {len(self.policies)} policies",
                 f"stand-ins: {len(self.rendered)} workloads as their charts render them, {len(self.documented)} as "
                 f"their tables document them ({', '.join(self.documented) or 'none'}), the rest the program's own"]
        for finding in sorted(self.findings, key=lambda f: (KINDS.index(f.kind), f.subject)):
            lines.append(f"{finding.case}")
            lines += [f"    {detail}" for detail in finding.details]
        return "\n".join(lines) + "\n"


# ---- names -------------------------------------------------------------------------------------------------


def peer_name(peer: Workload | Service | Outside) -> str:
    return peer.name


def flow_id(flow: Flow) -> str:
    port = f"-{flow.port}" if flow.port is not None else ""
    protocol = "-udp" if flow.protocol == "UDP" else ""
    return f"{peer_name(flow.client)}-to-{peer_name(flow.server)}{port}{protocol}"


def outside_addresses(tables: Iterable[FlowTable],
                      networks: dict[str, tuple[str, ...]]) -> dict[str, tuple[Network, ...]]:
    """Each outside endpoint's CIDRs as the stack config gives them (`Outside.key`), by endpoint name."""
    outsides = {}
    for table in tables:
        outsides |= {endpoint.outside.name: endpoint.outside for endpoint in table.endpoints if endpoint.outside}
        for flow in table.flows:
            outsides |= {peer.name: peer for peer in (flow.client, flow.server) if isinstance(peer, Outside)}
    found = {}
    for name, outside in sorted(outsides.items()):
        if outside.key not in networks:
            raise ValueError(f"{outside.key}: no CIDRs for {outside.description} (validation requires them)")
        found[name] = tuple(ipaddress.ip_network(cidr) for cidr in networks[outside.key])
    return found


# ---- stand-ins -----------------------------------------------------------------------------------------------


def _integral(value: Any) -> Any:
    """Wire-form numbers are floats; Kubernetes wants integers where they are integral."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integral(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral(item) for item in value]
    return value


def _pod_template(resource: RecordedResource) -> dict[str, Any]:
    spec = resource.inputs.get("spec", {})
    if resource.type.endswith(":CronJob"):
        spec = spec.get("jobTemplate", {}).get("spec", {})
    return _integral(spec.get("template", {}))


def _declared(workload: Workload, recording: Recording) -> tuple[dict[str, str], frozenset[tuple[str, int]]]:
    """The labels and container ports of the one recorded workload whose pod template carries `workload.labels`."""
    matches = []
    for resource in recording:
        if resource.type.split(":")[-1] not in WORKLOAD_KINDS:
            continue
        if resource.inputs.get("metadata", {}).get("namespace") != workload.namespace_name:
            continue
        template = _pod_template(resource)
        labels = template.get("metadata", {}).get("labels", {})
        if all(labels.get(key) == value for key, value in workload.labels.items()):
            matches.append((labels, template))
    if len(matches) != 1:
        raise ValueError(f"workload {workload.name}: expected one recorded workload in {workload.namespace_name} "
                         f"labelled {dict(workload.labels)}, found {len(matches)}")
    labels, template = matches[0]
    ports = frozenset((port.get("protocol", "TCP"), port["containerPort"])
                      for container in template.get("spec", {}).get("containers", [])
                      for port in container.get("ports") or [])
    stated = frozenset((port.protocol, port.number) for port in workload.ports)
    if stated != ports:
        raise ValueError(f"workload {workload.name}: its table states ports {sorted(stated)}, its recorded pod "
                         f"template declares {sorted(ports)}; the NetworkPolicies are generated from the table")
    return labels, ports


@dataclass(frozen=True)
class RenderedPod:
    """A pod template a chart renders: its namespace, labels and container ports."""

    release: str
    namespace: str
    labels: dict[str, str] = field(hash=False, compare=False)
    ports: frozenset[tuple[str, int]]


def rendered_pods(render: Any) -> list[RenderedPod]:
    """Every pod template of the releases the render stage rendered (a `StackRender`), in a stable order."""
    from infra.offline.render.monitors import pod_templates
    from infra.offline.render.stage import stack_objects

    names = {result.release.name for result in render.releases if result.status == "rendered"}
    objects = [item for item in stack_objects(render.plan, render.releases)[0] if item.owner in names]
    found = []
    for workload, template in pod_templates(objects):
        spec = template.get("spec") or {}
        ports = frozenset((str(port.get("protocol", "TCP")), int(port["containerPort"]))
                          for container in (spec.get("containers") or []) + (spec.get("initContainers") or [])
                          for port in (container.get("ports") or []) if str(port.get("containerPort", "")).isdigit())
        labels = {str(key): str(value) for key, value in ((template.get("metadata") or {}).get("labels") or {}).items()}
        found.append(RenderedPod(workload.owner, workload.namespace, labels, ports))
    return sorted(found, key=lambda pod: (pod.namespace, sorted(pod.labels.items())))


def stand_ins(tables: Iterable[FlowTable], recording: Recording,
              rendered: Iterable[RenderedPod] = ()) -> dict[str, StandIn]:
    """Each workload's stand-in pods: the program's own from its recorded objects; a chart's from the pod the chart
    renders that the workload's selector picks (its full labels and container ports), where the chart was rendered;
    else, and for pods operators create at run time, the labels and ports its table documents."""
    from components.runtime.network import selectors

    tables = tuple(tables)
    rendered = list(rendered)
    chosen = selectors(workload for table in tables for workload in table.workloads)
    found: dict[str, StandIn] = {}
    for table in tables:
        for workload in table.workloads:
            if workload.name in found:
                raise ValueError(f"workload {workload.name} is declared twice")
            documented = frozenset((port.protocol, port.number) for port in workload.ports)
            picked = [pod for pod in rendered if pod.namespace == workload.namespace_name
                      and chosen[workload.name].matches(pod.labels)]
            if workload.declared:
                labels, ports = _declared(workload, recording)
            elif picked:
                labels, ports = dict(picked[0].labels), documented | picked[0].ports
            else:
                labels, ports = dict(workload.labels), documented
            names = [workload.name] if workload.replicas == 1 else [
                f"{workload.name}-{index}" for index in range(workload.replicas)]
            pods = tuple(nca.Pod(workload.namespace_name, name) for name in names)
            found[workload.name] = StandIn(workload, pods, labels, ports, bool(picked) and not workload.declared)
    return found


def namespaces(recording: Recording, extra: Iterable[str]) -> list[dict[str, Any]]:
    """The program's namespaces with the `kubernetes.io/metadata.name` label the API server sets on every one."""
    found = {}
    for resource in recording.of_type(NAMESPACE):
        metadata = resource.inputs.get("metadata", {})
        found[metadata["name"]] = dict(metadata.get("labels", {}))
    for name in extra:
        found.setdefault(name, {})
    return [{"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": name, "labels": {**labels, "kubernetes.io/metadata.name": name}}}
            for name, labels in sorted(found.items())]


def network_policies(recording: Recording) -> list[dict[str, Any]]:
    return [
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {key: value for key, value in _integral(resource.inputs["metadata"]).items()
                      if key in ("name", "namespace", "labels")},
         "spec": _integral(resource.inputs["spec"])}
        for resource in recording.of_type(NETWORK_POLICY)
    ]


# ---- what is needed ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolver:
    stand_ins: dict[str, StandIn]
    endpoints: dict[str, Any]
    addresses: dict[str, tuple[Network, ...]]

    def show(self, end: nca.Pod | Network) -> str:
        """A need's end as people read it: the pod, or the outside endpoint's name and its stand-in address."""
        names = sorted(name for name, networks in self.addresses.items() if end in networks)
        return f"{end} ({', '.join(names)})" if names else str(end)

    def workloads_of(self, service: str) -> list[StandIn]:
        return [stand_in for stand_in in self.stand_ins.values() if stand_in.workload.service == service]

    def ports(self, flow: Flow) -> list[int]:
        if flow.port is not None:
            return [flow.port]
        return list(self.endpoints[flow.server.name].ports)

    def ends(self, peer: Workload | Service | Outside, protocol: str, port: int, serving: bool) -> list:
        if isinstance(peer, Outside):
            return list(self.addresses[peer.name])
        if isinstance(peer, Workload):
            return list(self.stand_ins[peer.name].pods)
        endpoint = self.endpoints.get(peer.name)
        if endpoint is not None and endpoint.outside is not None:
            return list(self.addresses[endpoint.outside.name])
        return [pod for stand_in in self.workloads_of(peer.name)
                if not serving or (protocol, port) in stand_in.ports for pod in stand_in.pods]

    def needs(self, flow: Flow) -> list[Need]:
        found = []
        for port in self.ports(flow):
            for source in self.ends(flow.client, flow.protocol, port, serving=False):
                for destination in self.ends(flow.server, flow.protocol, port, serving=True):
                    if source != destination:
                        found.append(Need(source, destination, flow.protocol, port))
        return found


def _allowed_between(allowed: list[nca.Allowed], need: Need) -> bool:
    """Whether the analyzer allows the need; an address range may be allowed in pieces (NCA splits the address
    space where other rules of the same pod differ), so those pieces are joined before they are compared."""
    ranges = []
    for entry in allowed:
        if not entry.connections.allows(need.protocol, need.port):
            continue
        if _covers(entry.source, need.source) and _covers(entry.destination, need.destination):
            return True
        if isinstance(need.destination, nca.Pod) is isinstance(need.source, nca.Pod):
            continue
        pod_end, far_end = ((entry.source, entry.destination) if isinstance(need.source, nca.Pod)
                            else (entry.destination, entry.source))
        if pod_end == (need.source if isinstance(need.source, nca.Pod) else need.destination) and \
                isinstance(far_end, nca.AddressRange):
            ranges.append((int(far_end.first), int(far_end.last)))
    wanted = need.destination if isinstance(need.source, nca.Pod) else need.source
    if not ranges or isinstance(wanted, nca.Pod):
        return False
    reached = int(wanted.network_address) - 1
    for first, last in sorted(ranges):
        if first > reached + 1:
            break
        reached = max(reached, last)
    return reached >= int(wanted.broadcast_address)


def _covers(peer: nca.Peer, wanted: nca.Pod | Network) -> bool:
    if isinstance(wanted, nca.Pod):
        return peer == wanted
    return isinstance(peer, nca.AddressRange) and peer.first <= wanted.network_address and \
        wanted.broadcast_address <= peer.last


# ---- the check -----------------------------------------------------------------------------------------------


def resolve(tables: tuple[FlowTable, ...], resolver: Resolver) -> dict[str, tuple[Flow, list[Need]]]:
    """Every table flow by its id, with the connections it needs; a duplicate row or a flow that reaches no pod in
    this stack is an error of the tables, raised as ValueError."""
    resolved: dict[str, tuple[Flow, list[Need]]] = {}
    for table in tables:
        for flow in table.flows:
            identity = flow_id(flow)
            if identity in resolved:
                raise ValueError(f"two rows describe flow {identity}")
            needs = resolver.needs(flow)
            if not needs:
                raise ValueError(f"flow {identity} ({table.product}) reaches no pod in this stack")
            resolved[identity] = (flow, needs)
    return resolved


def findings(prepared: Prepared, answers: nca.Answers) -> list[Finding]:
    found: list[Finding] = []
    show = prepared.resolver.show
    for identity, (flow, needs) in prepared.flows.items():
        blocked = [need for need in needs if not _allowed_between(answers.connectivity, need)]
        if blocked:
            found.append(Finding("blocked", identity, (
                f"{flow.why} ({flow.source})",
                *sorted({f"not allowed: {show(n.source)} -> {show(n.destination)} {n.protocol} {n.port}"
                         for n in blocked}))))
    found += _catalog_findings(prepared, answers)
    found += _emptiness_findings(answers.emptiness, _guards(prepared.policies))
    every_need = [need for _, needs in prepared.flows.values() for need in needs]
    found += _open_findings(answers.connectivity, every_need, prepared.resolver)
    return found


@dataclass(frozen=True)
class CatalogCall:
    """A call the catalog declares (`infra/dataflow.yaml`): `client` reaches `server` on one of `ports` (it `uses`
    it, or `deploys` through its admin ports), or on each of them (it `scrapes` every metrics port)."""

    client: str
    server: str
    ports: tuple[int, ...]
    why: str

    @property
    def every_port(self) -> bool:
        return self.why == "scrapes"


def catalog_calls(catalog: Catalog) -> list[CatalogCall]:
    """Every call the catalog declares, by client, server and reason. The catalog does not say which of a server's
    ports a client uses, so a `uses` or `deploys` call holds when one of them is allowed."""
    services = {service.name: service for service in catalog.services}
    calls = []
    for client in catalog.services:
        targets = [(services[name], ("serve", "admin"), "uses") for name in client.uses]
        targets += [(server, ("metrics",), "scrapes") for server in catalog.services if client.scrapes]
        targets += [(server, ("admin",), "deploys") for server in catalog.services if client.deploys]
        for server, purposes, why in targets:
            ports = tuple(sorted(port.port for port in server.ports if port.purpose in purposes))
            if server.name != client.name and ports:
                calls.append(CatalogCall(client.name, server.name, ports, why))
    return sorted(calls, key=lambda call: (call.client, call.server, call.why))


def _catalog_findings(prepared: Prepared, answers: nca.Answers) -> list[Finding]:
    found = []
    resolver = prepared.resolver
    for call in catalog_calls(prepared.catalog):
        clients = [pod for stand_in in resolver.workloads_of(call.client) for pod in stand_in.pods]
        if not clients:
            continue  # the catalog declares a service this stack does not run
        endpoint = resolver.endpoints.get(call.server)
        outside = endpoint is not None and endpoint.outside is not None
        if outside and call.why == "scrapes":
            continue  # a managed service outside the cluster (S3, RDS) is not scraped
        # Outside the cluster, a service is reached at its address and port in this stack (S3 on 443).
        ports = tuple(endpoint.ports) if outside else call.ports
        served = {port: resolver.ends(Service(call.server), "TCP", port, serving=True) for port in ports}
        served = {port: servers for port, servers in served.items() if servers}
        subject = f"{call.client}-{call.why}-{call.server}"
        if not served:
            if call.why != "scrapes":
                found.append(Finding("catalog", subject, (
                    f"the catalog has {call.client} {call.why} {call.server} on {_listed(ports)}: no pod of "
                    f"{call.server} listens on it in this stack",)))
            continue
        allowed = {port for port, servers in served.items()
                   if any(_allowed_between(answers.connectivity, Need(c, s, "TCP", port))
                          for c in clients for s in servers if c != s)}
        missing = sorted(set(served) - allowed) if call.every_port else ([] if allowed else sorted(served))
        if missing:
            found.append(Finding("catalog", subject, (
                f"the catalog has {call.client} {call.why} {call.server} on {_listed(ports)}: nothing allows "
                f"{_listed(missing)}",)))
    return found


def _listed(ports) -> str:
    return ", ".join(str(port) for port in ports)


def _guards(policies: list[dict[str, Any]]) -> set[str]:
    """Default denies: they select every pod their namespace will have, so one in a namespace that has none yet
    (prod's `dp-storage`, S3 being outside) guards it and is no mistake."""
    return {f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in policies
            if not p["spec"].get("podSelector") and not p["spec"].get("ingress") and not p["spec"].get("egress")}


def _emptiness_findings(emptiness: nca.Emptiness, guards: set[str]) -> list[Finding]:
    details: dict[str, list[str]] = defaultdict(list)
    for policy in emptiness.policies:
        if policy not in guards:
            details[policy].append("selects no pod")
    for policy, direction, index in emptiness.rules:
        details[policy].append(f"its {direction} rule {index} admits no pod")
    return [Finding("selects-nothing", policy, tuple(lines)) for policy, lines in sorted(details.items())]


def _open_findings(allowed: list[nca.Allowed], needs: list[Need], resolver: Resolver) -> list[Finding]:
    owner = {pod: stand_in for stand_in in resolver.stand_ins.values() for pod in stand_in.pods}
    needed: dict[tuple, nca.Connections] = defaultdict(nca.Connections)
    needed_from: dict[tuple, list[Network]] = defaultdict(list)
    for need in needs:
        if isinstance(need.source, Network):
            needed_from[(need.destination, need.protocol, need.port)].append(need.source)
        elif isinstance(need.destination, Network):
            needed_from[(need.source, need.protocol, need.port)].append(need.destination)
        else:
            key = (need.source, need.destination)
            needed[key] = needed[key] | nca.Connections.of(need.protocol, need.port)
    unserved: dict[str, list[str]] = defaultdict(list)
    unneeded: dict[str, list[str]] = defaultdict(list)

    def platform(peer: nca.Peer) -> bool:
        return isinstance(peer, nca.Pod) and peer.namespace in PLATFORM_NAMESPACES

    for entry in allowed:
        source, destination, connections = entry.source, entry.destination, entry.connections
        if not (platform(source) or platform(destination)):
            continue
        if isinstance(destination, nca.Pod):
            stand_in = owner[destination]
            listening = nca.Connections()
            for protocol, port in stand_in.ports:
                listening = listening | nca.Connections.of(protocol, port)
            idle = connections - listening
            if idle and platform(destination):
                unserved[stand_in.workload.name].append(f"{source} may open {idle} to {destination}")
            served = connections - idle
            subject = stand_in.workload.name if platform(destination) else owner[source].workload.name
            if isinstance(source, nca.Pod):
                extra = served - needed[(source, destination)]
                if extra:
                    unneeded[subject].append(f"{source} -> {destination} {extra}")
            else:
                unneeded[subject] += _beyond(source, destination, served, needed_from, resolver, reverse=True)
        elif platform(source):
            unneeded[owner[source].workload.name] += _beyond(destination, source, connections, needed_from, resolver)
    return ([Finding("unserved", name, tuple(sorted(lines))) for name, lines in sorted(unserved.items())]
            + [Finding("unneeded", name, tuple(sorted(lines))) for name, lines in sorted(unneeded.items()) if lines])


def _beyond(addresses: nca.AddressRange, pod: nca.Pod, connections: nca.Connections,
            needed_from: dict[tuple, list[Network]], resolver: Resolver, reverse: bool = False) -> list[str]:
    """What `connections` between `pod` and `addresses` allow beyond the networks a flow needs, port by port."""
    ports = connections.single_ports()
    if ports is None:
        arrow = f"{addresses} -> {pod}" if reverse else f"{pod} -> {addresses}"
        return [f"{arrow} {connections}"]
    lines = []
    for protocol, port in ports:
        wanted = needed_from.get((pod, protocol, port), [])
        rest = _minus(addresses.networks(), wanted)
        if rest:
            where = f"{addresses}" + (f" except {', '.join(sorted(map(resolver.show, wanted)))}" if wanted else "")
            arrow = f"{where} -> {pod}" if reverse else f"{pod} -> {where}"
            lines.append(f"{arrow} {protocol} {port}")
    return lines


def _minus(networks: list[Network], removed: list[Network]) -> list[Network]:
    left = list(networks)
    for cut in removed:
        kept = []
        for network in left:
            if cut.subnet_of(network):
                kept += list(network.address_exclude(cut)) if cut != network else []
            elif not network.subnet_of(cut):
                kept.append(network)
        left = kept
    return left


# ---- running it ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """Everything the check gives the analyzer and judges its answers by, for one stack."""

    stack: str
    config: StackConfig
    catalog: Catalog
    tables: tuple[FlowTable, ...]
    resolver: Resolver
    flows: dict[str, tuple[Flow, list[Need]]]
    namespaces: list[dict[str, Any]]
    pods: list[dict[str, Any]]
    policies: list[dict[str, Any]]


def render_of(recording: Recording) -> Any:
    """The render stage's result for the recorded stack, from the chart cache (releases it lacks are skipped)."""
    from infra.offline.render.cache import default_cache
    from infra.offline.render.planfile import Plan
    from infra.offline.render.stage import render_stack

    return render_stack(Plan.of_recording(recording), default_cache())


def prepare(stack: str, recording: Recording | None = None, render: Any = None) -> Prepared:
    """The stack's flow tables resolved against stand-ins of its pods (a chart's pods as rendered, given the
    render stage's result), and the program's recorded policies."""
    from components.platform import flow_tables, outside_networks
    from infra.program import main

    settings = load_stack(stack)
    inputs = validate_inputs(project_values(settings.config), stack)
    recording = recording or run_program(main, settings)
    tables = flow_tables(inputs.config, inputs.catalog)
    found = stand_ins(tables, recording, rendered_pods(render) if render is not None else ())
    endpoints = {endpoint.service: endpoint for table in tables for endpoint in table.endpoints}
    resolver = Resolver(found, endpoints, outside_addresses(tables, outside_networks(inputs.config)))
    extra = {stand_in.workload.namespace_name for stand_in in found.values()}
    return Prepared(
        stack, inputs.config, inputs.catalog, tables, resolver, resolve(tables, resolver),
        namespaces(recording, extra),
        [manifest for stand_in in found.values() for manifest in stand_in.manifests()],
        network_policies(recording),
    )


def check(stack: str, recording: Recording | None = None, out: Path | None = None,
          render: Any = None) -> NetworkReport:
    """Run the check for `stack` (recording the program under mocks unless given a recording; a chart's pods as the
    render stage renders them when given its result)."""
    prepared = prepare(stack, recording, render)
    directory = (out or REPO_ROOT / "build" / "network") / stack
    answers = nca.analyse(directory, prepared.namespaces, prepared.pods, prepared.policies)
    report = NetworkReport(
        stack, findings(prepared, answers), {identity: needs for identity, (_, needs) in prepared.flows.items()},
        sorted(prepared.resolver.stand_ins),
        sorted(f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in prepared.policies),
        sorted(name for name, stand_in in prepared.resolver.stand_ins.items() if stand_in.rendered),
        sorted(name for name, stand_in in prepared.resolver.stand_ins.items()
               if not stand_in.rendered and not stand_in.workload.declared),
    )
    (directory / "findings.txt").write_text(report.text())
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.offline.network", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "network")
    parser.add_argument("--no-render", action="store_true",
                        help="judge every chart's pods by their tables' labels, without rendering the charts")
    args = parser.parse_args(argv)
    from infra.program import main as program

    try:
        recording = run_program(program, load_stack(args.stack))
        render = None if args.no_render else render_of(recording)
        report = check(args.stack, recording, out=args.out, render=render)
    except nca.AnalyzerMissingError as error:
        print(f"network check: {error}", file=sys.stderr)
        return 3
    sys.stdout.write(report.text())
    print(f"network check: the analyzer's input and answers are in {args.out / args.stack}")
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main())
