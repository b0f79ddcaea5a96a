"""Install order over a plan's dependency graph: what waits for what (dependencies and parents, transitively), and
the two rules: a release rendering a CRD's kinds waits for the release installing it, and a declared custom
resource waits for its operator's release."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from infra.model.charts import CHARTS
from infra.offline.render.cache import default_cache, lookup
from infra.offline.render.crds import CrdIndex, ShippedCrd
from infra.offline.render.helm import RenderedObject
from infra.offline.render.order import install_order
from infra.offline.render.planfile import RELEASE_TYPE, Plan
from tests.support.render import rendered

STACK = "urn:pulumi:dev::demo::"


def resource(name: str, type_: str, parent: str = "", dependencies: tuple[str, ...] = (),
             inputs: dict[str, Any] | None = None, custom: bool = True) -> dict[str, Any]:
    return {"urn": f"{STACK}{type_}::{name}", "type": type_, "name": name, "custom": custom,
            "parent": f"{STACK}{parent}" if parent else "", "dependencies": [f"{STACK}{dep}" for dep in dependencies],
            "inputs": inputs or {}}


def release(name: str, parent: str = "", dependencies: tuple[str, ...] = ()) -> dict[str, Any]:
    return resource(name, RELEASE_TYPE, parent, dependencies,
                    {"name": name, "chart": name, "version": "1.0.0", "namespace": "ns"})


OPERATOR = f"{RELEASE_TYPE}::operator"
MONITORING = f"{RELEASE_TYPE}::monitoring"
LAYER = "demo:layer:Layer::layer"
WIDGET = "kubernetes:example.com/v1:Widget"


def plan(*resources: dict[str, Any]) -> Plan:
    return Plan({"stack": "dev", "resources": list(resources)}, Path("plan.json"))


def crd(kind: str, group: str, release_name: str | None, templated: bool = False) -> ShippedCrd:
    return ShippedCrd("chart", "1.0.0", release_name, {
        "metadata": {"name": f"{kind.lower()}s.{group}"},
        "spec": {"group": group, "names": {"kind": kind}, "versions": []}}, templated)


def obj(api_version: str, kind: str) -> RenderedObject:
    return RenderedObject("t.yaml", "", {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}})


def test_a_resource_waits_for_its_dependencies_and_its_parents_dependencies() -> None:
    graph = plan(
        release("operator"),
        resource("layer", "demo:layer:Layer", dependencies=(OPERATOR,), custom=False),
        resource("widget", WIDGET, parent=LAYER),
        resource("loose", WIDGET),
    )
    widget, loose = f"{STACK}{WIDGET}::widget", f"{STACK}{WIDGET}::loose"
    assert graph.waits_for(widget) == {f"{STACK}{LAYER}", f"{STACK}{OPERATOR}"}
    assert graph.waits_for(loose) == set()


def test_a_declared_custom_resource_must_wait_for_its_operator() -> None:
    index = CrdIndex([crd("Widget", "example.com", "operator")])
    graph = plan(release("operator"), resource("early", WIDGET),
                 resource("late", WIDGET, dependencies=(OPERATOR,)))
    problems, notes = install_order(graph, {"operator": []}, index)
    assert [problem.id for problem in problems] == ["install-order/early:operator"]
    assert notes == []


def test_a_release_rendering_a_kind_must_wait_for_the_release_installing_its_crd() -> None:
    index = CrdIndex([crd("ServiceMonitor", "monitoring.coreos.com", "monitoring"),
                      crd("Widget", "example.com", "operator")])
    graph = plan(release("monitoring"), release("operator"), release("app", dependencies=(MONITORING,)))
    installed = {"operator": [obj("monitoring.coreos.com/v1", "ServiceMonitor"), obj("v1", "Service")],
                 "app": [obj("monitoring.coreos.com/v1", "ServiceMonitor"), obj("example.com/v1", "Widget")],
                 "monitoring": [obj("monitoring.coreos.com/v1", "ServiceMonitor")]}
    problems, _ = install_order(graph, installed, index)
    assert [problem.id for problem in problems] == [
        "install-order/app:example.com/Widget", "install-order/operator:monitoring.coreos.com/ServiceMonitor"]
    assert "does not wait for release monitoring" in problems[1].message


def test_a_crd_among_the_templates_cannot_serve_objects_beside_it() -> None:
    index = CrdIndex([crd("Widget", "example.com", "operator", templated=True)])
    problems, _ = install_order(plan(release("operator")), {"operator": [obj("example.com/v1", "Widget")]}, index)
    assert [problem.id for problem in problems] == ["install-order/operator:example.com/Widget"]


def test_a_crd_no_release_installs_is_a_precondition_of_the_cluster() -> None:
    index = CrdIndex([crd("Widget", "example.com", None)])
    problems, notes = install_order(plan(release("app"), resource("w", WIDGET)),
                                    {"app": [obj("example.com/v1", "Widget")]}, index)
    assert problems == []
    assert len(notes) == 2 and all("the cluster must already" in note for note in notes)


def test_kinds_whose_crd_is_unknown_are_said_to_be_unchecked() -> None:
    problems, notes = install_order(plan(release("app"), resource("w", WIDGET)),
                                    {"app": [obj("other.io/v1", "Gadget")]}, CrdIndex([], ("superset",)))
    assert problems == []
    assert notes == ["not checked for Gadget, Widget: no cached chart defines their CRDs"]


def test_the_metadata_object_store_is_judged_by_the_plugin_chart_and_waits_for_its_release(stack_recording) -> None:
    """In dev the ObjectStore's CRD comes from the backup plugin's chart, which the stack releases: the declared
    ObjectStore waits for that release, and without the dependency the check says so."""
    if lookup(default_cache(), "plugin-barman-cloud", CHARTS["plugin-barman-cloud"].version) is None:
        pytest.skip(f"not in the chart cache {default_cache()}: plugin-barman-cloud (make chart-cache)")
    render = rendered(stack_recording("dev"))
    (store,) = [result for result in render.declared if result.declared.kind == "ObjectStore"]
    assert store.crd is not None and (store.crd.chart, store.crd.release) == ("plugin-barman-cloud",
                                                                              "plugin-barman-cloud")
    assert store.problems == []
    resource = store.declared.resource
    assert not [problem for problem in render.order_problems if problem.id.startswith(f"install-order/{resource}")]
    document = copy.deepcopy(render.plan.document)
    (entry,) = [item for item in document["resources"] if item["urn"] == store.declared.urn]
    plugin = next(release.urn for release in render.plan.releases if release.name == "plugin-barman-cloud")
    entry["dependencies"] = [urn for urn in entry["dependencies"] if urn != plugin]
    problems, _ = install_order(Plan(document, Path("plan.json")), {}, CrdIndex([store.crd]))
    assert [problem.id for problem in problems] == [f"install-order/{resource}:plugin-barman-cloud"]
