"""Flows mined from the rendered charts' own configuration (infra/offline/render/mined.py) against the flow tables
(components/<product>/flows.py): every connection a chart configures its pods to open, to a Service the render
holds, is one the tables list, so the network check, which judges the NetworkPolicies by the tables, judges it too.
Two sources that do not derive from each other, nor from the NetworkPolicy generator.

Needs the chart cache (`make chart-cache`) for the charts; without it nothing is mined.
"""

from __future__ import annotations

import pytest

from infra.offline import network
from infra.offline.render.mined import MinedFlow, mine
from infra.offline.render.stage import StackRender, stack_objects
from tests.support.render import rendered

STACKS = ("dev", "prod")
# Connections the charts configure that the tables leave out on purpose, each a defect of the platform until it is
# fixed (then its case below passes, which fails the suite until the entry goes): stack -> {(client, service): why}.
KNOWN = {
    "dev": {},
    "prod": {},
}
_MINED: dict[str, list[str]] = {}


def stand_ins_for(prepared: network.Prepared, namespace: str, labels: dict[str, str]) -> list[network.StandIn]:
    return [stand_in for stand_in in prepared.resolver.stand_ins.values()
            if stand_in.workload.namespace_name == namespace
            and all(labels.get(key) == value for key, value in stand_in.labels.items())]


def listed(prepared: network.Prepared, flow: MinedFlow) -> str | None:
    """None when the tables need this connection; else why not."""
    clients = stand_ins_for(prepared, flow.client_namespace, dict(flow.client_labels))
    servers = stand_ins_for(prepared, flow.server_namespace, dict(flow.server_labels))
    if not clients or not servers:
        return f"no flow-table workload is {'the client' if not clients else 'the server'}"
    sources = {pod for stand_in in clients for pod in stand_in.pods}
    destinations = {pod for stand_in in servers for pod in stand_in.pods}
    for _, needs in prepared.flows.values():
        if any(need.source in sources and need.destination in destinations and need.port == flow.port
               and need.protocol == flow.protocol for need in needs):
            return None
    return "no flow-table row needs it"


def unlisted(stack: str, stack_recording) -> dict[tuple[str, str], str]:
    """(client, service) -> why of every mined connection the tables do not need."""
    if stack not in _MINED:
        recording = stack_recording(stack)
        render: StackRender = rendered(recording)
        flows, _ = mine(stack_objects(render.plan, render.releases)[0])
        if not flows:
            pytest.skip(f"{stack}: nothing rendered, nothing mined (make chart-cache)")
        prepared = network.prepare(stack, recording)
        _MINED[stack] = {(flow.client, flow.service): f"port {flow.port}: {why}; {flow.evidence}"
                         for flow in flows if (why := listed(prepared, flow)) is not None}
    return _MINED[stack]


@pytest.mark.parametrize("stack", STACKS)
def test_every_flow_a_chart_configures_is_in_the_flow_tables(stack: str, stack_recording) -> None:
    missing = {key: why for key, why in unlisted(stack, stack_recording).items() if key not in KNOWN[stack]}
    assert not missing, "\n".join(f"{client} -> {service} {why}" for (client, service), why in missing.items())


@pytest.mark.parametrize(
    ("stack", "key"),
    [pytest.param(stack, key, id=f"{stack}-{key[0]}->{key[1]}", marks=pytest.mark.xfail(strict=True, reason=why))
     for stack in STACKS for key, why in KNOWN[stack].items()],
)
def test_known_unlisted_flow_is_gone(stack: str, key: tuple[str, str], stack_recording) -> None:
    assert key not in unlisted(stack, stack_recording)


def test_addresses_are_read_as_a_pod_would_resolve_them() -> None:
    from infra.offline.render.monitors import StackObject

    service = StackObject("chart", {"apiVersion": "v1", "kind": "Service",
                                    "metadata": {"name": "api", "namespace": "b"},
                                    "spec": {"selector": {"app": "api"},
                                             "ports": [{"port": 80, "targetPort": "http"}]}})
    server = StackObject("chart", {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api",
                                   "namespace": "b"}, "spec": {"template": {"metadata": {"labels": {"app": "api"}},
                                   "spec": {"containers": [{"name": "c", "ports": [{"name": "http",
                                                                                   "containerPort": 8080}]}]}}}})

    def client(value: str) -> StackObject:
        return StackObject("chart", {"apiVersion": "apps/v1", "kind": "Deployment",
                                     "metadata": {"name": "web", "namespace": "a"},
                                     "spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                                         "containers": [{"name": "c", "image": "vendor/api:1.2",
                                                         "env": [{"name": "URL", "value": value}]}]}}}})

    for value in ("http://api.b", "api.b:80", "https://u:p@api.b.svc:80/x", "api.b.svc.cluster.local:80"):
        flows, _ = mine([service, server, client(value)])
        assert [(flow.client, flow.port) for flow in flows] == [("chart:Deployment/web", 8080)], value
    flows, unresolved = mine([service, server, client("api:80")])  # `api` in the client's own namespace: none
    assert flows == [] and unresolved == {"api:80"}


def test_a_pod_configured_with_its_own_service_is_no_flow() -> None:
    from infra.offline.render.monitors import StackObject

    service = StackObject("chart", {"apiVersion": "v1", "kind": "Service",
                                    "metadata": {"name": "api", "namespace": "b"},
                                    "spec": {"selector": {"app": "api"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    server = StackObject("chart", {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api",
                                   "namespace": "b"}, "spec": {"template": {"metadata": {"labels": {"app": "api"}},
                                   "spec": {"containers": [{"name": "c", "env": [{"name": "SELF", "value": "api:80"}],
                                                            "ports": [{"containerPort": 8080}]}]}}}})
    assert mine([service, server]) == ([], set())
