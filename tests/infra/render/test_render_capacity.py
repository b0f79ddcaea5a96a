"""What a stack asks of its cluster, from the render: every long-running container requests CPU and memory, and
the totals count the pods operators create from the program's custom resources."""

from __future__ import annotations

import pytest

from infra.offline.render.capacity import capacity, quantity
from infra.offline.render.monitors import StackObject
from infra.offline.render.stage import StackRender
from tests.support.render import rendered


def test_quantities_read_as_kubernetes_writes_them():
    assert quantity("500m", cpu=True) == 0.5
    assert quantity("2", cpu=True) == 2
    assert quantity("2Gi") == 2 * 2**30
    assert quantity("1G") == 10**9
    with pytest.raises(ValueError):
        quantity("lots")


def test_operator_made_pods_count_from_their_custom_resources():
    cluster = StackObject("metadata", {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
                                       "metadata": {"name": "m", "namespace": "n"},
                                       "spec": {"instances": 3, "storage": {"size": "10Gi"},
                                                "resources": {"requests": {"cpu": "250m", "memory": "1Gi"}}}})
    deployment = StackObject("chart", {"apiVersion": "apps/v1", "kind": "Deployment",
                                       "metadata": {"name": "d", "namespace": "n"},
                                       "spec": {"replicas": 2, "template": {"spec": {"containers": [
                                           {"name": "c", "resources": {"requests": {"cpu": "1"}}}]}}}})
    total = capacity([cluster, deployment])
    assert (total.pods, total.cpu, total.memory, total.storage) == (5, 2.75, 3 * 2**30, 30 * 2**30)
    assert total.unset == ["chart:Deployment/d/c"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_long_running_container_requests_cpu_and_memory(stack, stack_recording) -> None:
    render: StackRender = rendered(stack_recording(stack))
    if not any(result.status == "rendered" for result in render.releases):
        pytest.skip(f"{stack}: nothing rendered (make chart-cache)")
    assert render.capacity.pods > 0
    assert render.capacity.unset == []
