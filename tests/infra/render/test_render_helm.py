"""A chart renders through Helm's Go SDK and splits into objects as Helm splits it: test hooks flagged, the CRDs of
disabled subcharts left out, a dependency the values enable but the chart lacks reported, and kubeVersion read."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.offline.render.helm import enabled_dependencies, kube_version_allows, render_chart

CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.{group}
spec:
  group: {group}
  names: {{kind: Widget, plural: widgets}}
  scope: Namespaced
  versions: [{{name: v1, served: true, storage: true, schema: {{openAPIV3Schema: {{type: object}}}}}}]
"""


@pytest.fixture()
def chart(tmp_path: Path) -> Path:
    root = tmp_path / "demo"
    (root / "templates").mkdir(parents=True)
    (root / "crds").mkdir()
    (root / "Chart.yaml").write_text(
        "apiVersion: v2\nname: demo\nversion: 1.0.0\nkubeVersion: '>=1.29.0-0'\ndependencies:\n"
        "  - {name: extra, version: 1.0.0, condition: extra.enabled}\n"
        "  - {name: missing, version: 1.0.0, condition: missing.enabled}\n")
    (root / "values.yaml").write_text("extra: {enabled: false}\nmissing: {enabled: false}\nreplicas: 1\n")
    (root / "values.schema.json").write_text('{"type": "object", "properties": {"replicas": {"type": "integer"}}}')
    (root / "crds" / "widgets.yaml").write_text(CRD.format(group="demo.example.com"))
    (root / "templates" / "NOTES.txt").write_text("thanks\n")
    # Helm splits at a `---` that a comment follows on the same line, as cert-manager's templates have it.
    (root / "templates" / "objects.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
        "---# a comment right after the separator\n"
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}\n  namespace: {{ .Release.Namespace }}\n"
        "spec:\n  replicas: {{ .Values.replicas }}\n")
    (root / "templates" / "test.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: t\n  annotations: {helm.sh/hook: test}\n"
        "spec: {containers: [{name: t, image: busybox}]}\n")
    extra = root / "charts" / "extra"
    (extra / "crds").mkdir(parents=True)
    (extra / "Chart.yaml").write_text("apiVersion: v2\nname: extra\nversion: 1.0.0\n")
    (extra / "crds" / "gadgets.yaml").write_text(CRD.format(group="extra.example.com"))
    return root


def test_a_chart_renders_and_splits_as_helm_splits_it(chart: Path) -> None:
    result = render_chart(chart, {"replicas": 3}, "rel", "ns")
    assert (result.chart, result.version, result.schema, result.render_error) == ("demo", "1.0.0", "valid", None)
    assert [(item.kind, item.name, item.is_test) for item in result.objects] == [
        ("ConfigMap", "rel", False), ("Service", "rel", False), ("Pod", "t", True)]
    assert result.objects[1].document["spec"]["replicas"] == 3
    assert result.objects[1].document["metadata"]["namespace"] == "ns"
    assert [item.source for item in result.crds] == ["demo/crds/widgets.yaml"], "extra is disabled"
    assert result.absent_dependencies == [] and result.parse_errors == []


def test_what_the_values_enable_counts(chart: Path) -> None:
    result = render_chart(chart, {"extra": {"enabled": True}, "missing": {"enabled": True}}, "rel", "ns")
    assert sorted(item.source for item in result.crds) == ["demo/charts/extra/crds/gadgets.yaml",
                                                             "demo/crds/widgets.yaml"]
    assert result.absent_dependencies == ["missing"]


def test_values_the_schema_refuses_are_reported_and_not_rendered(chart: Path) -> None:
    result = render_chart(chart, {"replicas": "three"}, "rel", "ns")
    assert result.schema == "invalid"
    assert result.schema_errors == ["at '/replicas': got string, want integer"]
    assert result.render_error is not None and result.objects == []


def test_a_key_written_twice_is_a_manifest_error(chart: Path) -> None:
    (chart / "templates" / "twice.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n")
    result = render_chart(chart, {}, "rel", "ns")
    assert len(result.parse_errors) == 1 and "demo/templates/twice.yaml" in result.parse_errors[0]
    assert "duplicate key `name`" in result.parse_errors[0]
    # Reported, and still judged as the cluster gets it: Helm's YAML keeps the last value.
    (twice,) = [item for item in result.objects if item.source.endswith("twice.yaml")]
    assert twice.document["metadata"]["name"] == "b"


def test_conditions_are_read_as_helm_reads_them() -> None:
    metadata = {"dependencies": [
        {"name": "a", "condition": "a.enabled"},
        {"name": "b", "condition": "b.missing,b.enabled"},
        {"name": "c", "condition": "c.enabled"},
        {"name": "d"},
    ]}
    merged = {"a": {"enabled": False}, "b": {"enabled": True}, "c": {"enabled": "yes"}}
    assert enabled_dependencies(metadata, merged) == {"a": False, "b": True, "c": True, "d": True}


@pytest.mark.parametrize(("constraint", "version", "allowed"), [
    (">= 1.22.0-0", "1.34", True),
    (">=1.29.0-0", "1.37", True),
    ("<1.35.0", "1.35", False),
    (">=1.20, <1.35", "1.34", True),
    (">=1.20 <1.35", "1.36", False),
    (">=1.40 || <1.35", "1.34", True),
    ("^1.20", "1.34", None),
    ("1.2x", "1.34", None),
])
def test_kube_version_constraints(constraint: str, version: str, allowed: bool | None) -> None:
    assert kube_version_allows(constraint, version) is allowed
