"""The flow tables' chart workloads (components/<product>/flows.py) against what the charts really render: each
workload's documented labels select pods a chart renders in its namespace, and each port the table says those pods
listen on is a container port of what it selects, or a port the vendor's process opens without declaring it,
named here with its citation. A table row the render contradicts would make the network check judge pods that do
not exist.

Needs the chart cache (`make chart-cache`); a workload whose chart is not cached is not checked, and said so.
"""

from __future__ import annotations

import pytest

from components.kit.flows import Workload
from components.platform import flow_tables
from components.runtime.network import selectors
from infra.model.catalog import load_catalog
from infra.model.config import parse_stack_config, project_values
from infra.model.stackfiles import load_stack
from infra.offline.network import rendered_pods
from infra.offline.render.stage import StackRender
from tests.support.render import rendered

STACKS = ("dev", "prod")
# Ports a vendor's process listens on without a `containerPort` in its chart, each with where that is documented.
UNDECLARED: dict[tuple[str, int], str] = {}
# Pods no chart renders: an operator or a launcher creates them at run time, so only their vendor's source (each
# row's citation) says how they are labelled.
RUN_TIME_PODS = {
    "elasticsearch-*": "ECK creates the node StatefulSets from the Elasticsearch resource",
    "deployer": "the in-cluster deploy runner is set up outside the stack (docs/decisions/0001-deployment-topology.md)",
    "metadata-postgresql": "CloudNativePG creates the instance pods from the Cluster resource",
    "airbyte-jobs": "Airbyte's workload launcher creates a pod per sync or check",
    "prometheus": "the Prometheus Operator creates its StatefulSet from the Prometheus resource",
    "alertmanager": "the Prometheus Operator creates its StatefulSet from the Alertmanager resource",
}


def table_workloads(stack: str) -> list[Workload]:
    config = parse_stack_config(project_values(load_stack(stack).config), stack)
    return [workload for table in flow_tables(config, load_catalog()) for workload in table.workloads]


def chart_workloads(stack: str) -> list[Workload]:
    return [workload for workload in table_workloads(stack)
            if not workload.declared and workload.namespace is None and not made_at_run_time(workload.name)]


def made_at_run_time(name: str) -> bool:
    return any(name == pattern or (pattern.endswith("*") and name.startswith(pattern[:-1]))
               for pattern in RUN_TIME_PODS)


@pytest.fixture()
def render(request, stack_recording) -> StackRender:
    return rendered(stack_recording(request.node.callspec.params["stack"]))


@pytest.mark.parametrize("stack", STACKS)
def test_chart_workloads_of_the_flow_tables_are_pods_the_charts_render(render: StackRender, stack: str) -> None:
    templates = rendered_pods(render)
    releases = {result.release.namespace: [] for result in render.releases}
    for result in render.releases:
        releases[result.release.namespace].append(result)
    problems, unchecked = [], []
    pods = selectors(table_workloads(stack))
    for workload in chart_workloads(stack):
        selected = [pod for pod in templates if pod.namespace == workload.namespace_name
                    and pods[workload.name].matches(pod.labels)]
        if not selected and any(result.status != "rendered" for result in releases.get(workload.namespace_name, [])):
            unchecked.append(workload.name)
            continue
        if not selected:
            problems.append(f"{workload.name}: no pod rendered in {workload.namespace_name} carries "
                            f"{dict(workload.labels)} ({workload.source})")
            continue
        listening = set().union(*(pod.ports for pod in selected))
        for port in workload.ports:
            if (port.protocol, port.number) not in listening and (workload.name, port.number) not in UNDECLARED:
                problems.append(f"{workload.name}: port {port.number}/{port.protocol} is no container port of the "
                                f"pods it selects ({sorted(number for _, number in listening)}; {workload.source})")
    assert not problems, "\n".join(problems)
    if unchecked:
        pytest.skip(f"{stack}: not rendered here, not checked: {', '.join(sorted(unchecked))}")


@pytest.mark.parametrize("stack", STACKS)
def test_every_pod_a_chart_renders_is_one_workload_of_the_tables(render: StackRender, stack: str) -> None:
    # The NetworkPolicies are generated per table workload: a rendered pod no workload selects gets only its
    # namespace's default deny, and one that two select gets both workloads' allowances.
    pods = selectors(table_workloads(stack))
    problems = []
    for pod in rendered_pods(render):
        owners = sorted(name for name, selected in pods.items()
                        if selected.namespace == pod.namespace and selected.matches(pod.labels))
        if len(owners) != 1:
            problems.append(f"{pod.release}: a pod in {pod.namespace} labelled {pod.labels} is selected by "
                            f"{owners or 'no workload of the flow tables'}")
    assert not problems, "\n".join(problems)
