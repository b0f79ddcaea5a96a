"""The flow tables hold cited vendor facts: every row names a source, pods that exist in the stack and a port those
pods listen on; the program's own workloads are found among its recorded objects."""

from __future__ import annotations

import pytest

from components.kit.flows import KUBERNETES_API, Service, Workload, cited
from infra.model.stackfiles import REPO_ROOT
from infra.offline import nca
from infra.offline.network import Prepared, prepare

STACKS = ("dev", "prod")


@pytest.fixture(scope="module")
def prepared(stack_recording) -> dict[str, Prepared]:
    # prepare() raises on a table error: two rows for one flow, a flow that reaches no pod, a program workload that
    # is not among the recorded objects.
    return {stack: prepare(stack, stack_recording(stack)) for stack in STACKS}


def sources(tables) -> set[str]:
    found = set()
    for table in tables:
        found |= {workload.source for workload in table.workloads}
        found |= {flow.source for flow in table.flows} | {endpoint.source for endpoint in table.endpoints}
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_every_row_cites_a_vendor_source_or_a_file_of_this_repository(prepared, stack):
    for source in sources(prepared[stack].tables):
        assert cited(source) == source
        if not source.startswith("https://") and "@" not in source:
            assert (REPO_ROOT / source).is_file(), f"{source} is not a file of this repository"


def test_a_citation_is_a_url_a_vendor_file_at_a_ref_or_a_repository_path():
    assert cited("cert-manager/cert-manager@v1.21.1:deploy/charts/cert-manager/values.yaml")
    assert cited("https://cloudnative-pg.io/documentation/current/networking/")
    for not_a_source in ("the vendor's docs", "cert-manager/values.yaml", "http://example.com/plain"):
        with pytest.raises(ValueError, match="not a citation"):
            cited(not_a_source)


@pytest.mark.parametrize("stack", STACKS)
def test_a_flow_to_a_workload_names_a_port_it_listens_on(prepared, stack):
    stand_ins = prepared[stack].resolver.stand_ins
    owner = {pod: stand_in for stand_in in stand_ins.values() for pod in stand_in.pods}
    for identity, (_, needs) in prepared[stack].flows.items():
        for need in needs:
            if isinstance(need.destination, nca.Pod):
                ports = owner[need.destination].ports
                assert (need.protocol, need.port) in ports, f"{identity}: {need.destination} listens on {ports}"


@pytest.mark.parametrize("stack", STACKS)
def test_every_service_a_flow_names_is_run_or_reached_in_the_stack(prepared, stack):
    known = prepared[stack].resolver.endpoints.keys() | {
        stand_in.workload.service for stand_in in prepared[stack].resolver.stand_ins.values()}
    for identity, (flow, _) in prepared[stack].flows.items():
        for peer in (flow.client, flow.server):
            if isinstance(peer, Service):
                assert peer.name in known, f"{identity} names service {peer.name}, which nothing runs or reaches"


@pytest.mark.parametrize("stack", STACKS)
def test_every_catalog_service_the_stack_runs_has_pods_or_an_endpoint_outside(prepared, stack):
    resolver = prepared[stack].resolver
    for service in prepared[stack].catalog.services:
        outside = resolver.endpoints.get(service.name)
        assert resolver.workloads_of(service.name) or (outside and outside.outside), service.name


@pytest.mark.parametrize("stack", STACKS)
def test_every_catalog_service_that_needs_the_api_server_has_a_flow_to_it(prepared, stack):
    api_clients = set()
    for flow, _ in prepared[stack].flows.values():
        if isinstance(flow.server, Service) and flow.server.name == KUBERNETES_API.name:
            client = flow.client
            api_clients.add(client.service if isinstance(client, Workload) else client.name)
    wanted = {service.name for service in prepared[stack].catalog.services if service.kubernetes_api}
    assert wanted <= api_clients, f"no table gives {sorted(wanted - api_clients)} the API server"


def test_every_port_the_catalog_lists_is_one_a_pod_listens_on_in_some_stack(prepared):
    # The network check skips a metrics port no pod of the stack listens on (prod runs no cert-manager of its own);
    # a port that no stack serves is a false statement of the catalog, not a stack's choice.
    listened: dict[str, set[int]] = {}
    for stack in STACKS:
        for stand_in in prepared[stack].resolver.stand_ins.values():
            listened.setdefault(stand_in.workload.service, set()).update(port for _, port in stand_in.ports)
        for endpoint in prepared[stack].resolver.endpoints.values():
            listened.setdefault(endpoint.service, set()).update(endpoint.ports)
    unserved = [f"{service.name}:{port.port}" for service in prepared["dev"].catalog.services
                for port in service.ports if port.port not in listened.get(service.name, set())]
    assert not unserved, f"the catalog lists ports that no pod listens on in any stack: {unserved}"
