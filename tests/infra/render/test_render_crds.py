"""Custom resources are judged against their CRD's openAPIV3Schema as the API server reads it: unknown fields
refused where the schema lists the fields, null where `nullable`, int or string where the CRD says so."""

from __future__ import annotations

from typing import Any

import pytest

from infra.offline.render.crds import CrdIndex, ShippedCrd, as_json_schema

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["size"],
            "properties": {
                "size": {"type": "integer", "minimum": 1},
                "port": {"x-kubernetes-int-or-string": True},
                "note": {"type": "string", "nullable": True},
                "mode": {"type": "string", "enum": ["a", "b"]},
                # A field named like a keyword: its schema is a field's, not the object's.
                "properties": {"type": "object", "properties": {"type": {"type": "string"}}},
                "template": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "embedded": {"type": "object", "x-kubernetes-embedded-resource": True,
                             "properties": {"spec": {"type": "object"}}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
    },
}


def crd(versions: list[dict[str, Any]], release: str | None = "operator") -> ShippedCrd:
    return ShippedCrd("widgets", "1.0.0", release, {
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "names": {"kind": "Widget"}, "scope": "Namespaced", "versions": versions},
    })


@pytest.fixture()
def index() -> CrdIndex:
    return CrdIndex([crd([
        {"name": "v1", "served": True, "schema": {"openAPIV3Schema": SCHEMA}},
        {"name": "v1beta1", "served": True, "deprecated": True, "deprecationWarning": "use v1",
         "schema": {"openAPIV3Schema": SCHEMA}},
        {"name": "v1alpha1", "served": False},
    ])])


def widget(spec: dict[str, Any], version: str = "v1") -> dict[str, Any]:
    return {"apiVersion": f"example.com/{version}", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec}


def findings(index: CrdIndex, document: dict[str, Any]) -> list[tuple[str, str]]:
    return [(finding.path, finding.message) for finding in index.validate(document).findings]


def test_a_valid_resource_passes(index: CrdIndex) -> None:
    document = widget({"size": 1, "port": "http", "note": None, "mode": "a", "properties": {"type": "x"},
                       "template": {"anything": {"goes": 1}}, "labels": {"a": "b"},
                       "embedded": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}})
    assert findings(index, document) == []
    assert findings(index, widget({"size": 2, "port": 8080})) == []


def test_what_the_api_server_would_refuse_or_drop_is_found(index: CrdIndex) -> None:
    document = widget({"size": 0, "port": 1.5, "mode": "c", "sizee": 3, "labels": {"a": 1}})
    assert findings(index, document) == [
        ("spec", "unknown field 'sizee'"),
        ("spec.labels.a", "1 is not of type 'string'"),
        ("spec.mode", "'c' is not one of ['a', 'b']"),
        ("spec.port", "1.5 is not valid under any of the given schemas"),
        ("spec.size", "0 is less than the minimum of 1"),
    ]
    assert findings(index, widget({"size": 1}) | {"status": {}}) == [("", "unknown field 'status'")]


def test_versions_the_crd_does_not_serve_or_deprecates(index: CrdIndex) -> None:
    unserved = index.validate(widget({"size": 1}, "v1alpha1"))
    assert [finding.message for finding in unserved.findings] == [
        "CRD widgets.example.com of chart widgets 1.0.0 (release operator) does not serve version v1alpha1"]
    deprecated = index.validate(widget({"size": 1}, "v1beta1"))
    assert (deprecated.findings, deprecated.deprecation) == ([], "use v1")


def test_a_kind_no_chart_defines(index: CrdIndex) -> None:
    document = {"apiVersion": "other.example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}}
    assert findings(index, document) == [("", "no pinned chart ships a CRD for other.example.com/v1 Gadget")]
    partial = CrdIndex([], uncached=("superset",))
    verdict = partial.validate(document)
    assert verdict.findings == [] and verdict.unchecked is not None and "superset" in verdict.unchecked


def test_a_crd_installed_by_the_stack_comes_before_one_read_from_a_chart_it_does_not_release() -> None:
    index = CrdIndex([crd([], release=None), crd([], release="operator")])
    found = index.find("example.com/v1", "Widget")
    assert found is not None and found.release == "operator"


def test_the_conversion_leaves_the_crd_as_it_was() -> None:
    original = repr(SCHEMA)
    converted = as_json_schema(SCHEMA)
    assert repr(SCHEMA) == original
    assert converted["properties"]["spec"]["properties"]["properties"]["additionalProperties"] is False
    assert converted["properties"]["spec"]["properties"]["properties"]["properties"] == {"type": {"type": "string"}}
    assert converted["properties"]["spec"]["properties"]["note"]["type"] == ["string", "null"]
