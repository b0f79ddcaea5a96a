"""One chart rendered by Helm's own Go SDK (`helm-python-sdk`), offline, and split into objects as Helm splits it.

Helm renders with its default capabilities: Kubernetes v1.36 (`.Capabilities.KubeVersion`), only the built-in API
versions (`.Capabilities.APIVersions.Has` is false for every CRD's group), and `lookup` answers nothing, as
`helm template` does. Helm does not enforce the chart's `kubeVersion` when rendering, so it is compared with every
supported Kubernetes version here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from infra.model import yamlio

# Helm's own manifest separator (pkg/release/util: SplitManifests): `---` at a line start, whatever follows it.
SEPARATOR = re.compile(r"(?:^|\s*\n)---\s*")
TEST_HOOKS = {"test", "test-success", "test-failure"}


class ManifestLoader(yamlio.SafeLoader):  # type: ignore[misc, valid-type]
    """YAML as Kubernetes reads it: a bare `=` is a string (PyYAML alone reads it as YAML 1.1's `value` tag, which
    CRD schemas use as an enum member)."""


ManifestLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))

# What Helm adds to every object it installs.
RELEASE_NAME_ANNOTATION = "meta.helm.sh/release-name"
RELEASE_NAMESPACE_ANNOTATION = "meta.helm.sh/release-namespace"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
CLUSTER_SCOPED = frozenset({"CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "Namespace",
                            "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "PriorityClass",
                            "StorageClass", "IngressClass", "APIService", "ClusterIssuer"})


@dataclass(frozen=True)
class RenderedObject:
    source: str
    """The template (or `crds/` file) it came from, as Helm names it."""
    text: str
    """The manifest exactly as rendered."""
    document: dict[str, Any]

    @property
    def api_version(self) -> str:
        return str(self.document.get("apiVersion", ""))

    @property
    def kind(self) -> str:
        return str(self.document.get("kind", ""))

    @property
    def name(self) -> str:
        return str((self.document.get("metadata") or {}).get("name", ""))

    @property
    def hooks(self) -> set[str]:
        annotations = (self.document.get("metadata") or {}).get("annotations") or {}
        return {hook.strip() for hook in str(annotations.get("helm.sh/hook", "")).split(",") if hook.strip()}

    @property
    def is_test(self) -> bool:
        """A `helm test` hook: never created by an install, so neither judged nor written."""
        return bool(self.hooks & TEST_HOOKS)

    def label(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass
class ChartRender:
    chart: str
    version: str
    kube_version: str | None
    """The chart's `kubeVersion` constraint, if any."""
    schema: str = "none"
    """`valid`, `invalid` or `none` (neither the chart nor its subcharts ship a values.schema.json)."""
    schema_errors: list[str] = field(default_factory=list)
    render_error: str | None = None
    absent_dependencies: list[str] = field(default_factory=list)
    """Dependencies the values enable but the cached chart lacks."""
    crds: list[RenderedObject] = field(default_factory=list)
    """The `crds/` files of the chart and of its enabled subcharts (Helm installs them before the templates)."""
    objects: list[RenderedObject] = field(default_factory=list)
    """Every object the templates render, in template order (test hooks included)."""
    parse_errors: list[str] = field(default_factory=list)


def render_chart(directory: Path, values: dict[str, Any], name: str, namespace: str) -> ChartRender:
    import helm_python

    with helm_python.Chart.load(directory) as chart:
        metadata = chart.metadata
        result = ChartRender(str(metadata["name"]), str(metadata["version"]), metadata.get("kubeVersion"))
        merged = chart.merge_values(values)
        enabled = enabled_dependencies(metadata, merged)
        loaded = {dependency["name"] for dependency in chart.dependencies}
        result.absent_dependencies = sorted(name for name, on in enabled.items() if on and name not in loaded)
        # Helm validates each subchart's values against its own schema too; a chart may ship none at the top.
        if chart.schema is not None or any((directory / "charts").rglob("values.schema.json")):
            try:
                chart.validate_schema(values)
                result.schema = "valid"
            except helm_python.HelmValuesError as error:
                result.schema = "invalid"
                result.schema_errors = [line.strip("- ").strip() for line in str(error).splitlines()
                                        if line.strip().startswith("- ")] or [str(error).strip()]
        try:
            manifests = chart.render(values, name=name, namespace=namespace)
        except helm_python.HelmError as error:
            result.render_error = str(error).strip()
            return result
        for crd in sorted(chart.crds, key=lambda crd: crd["filename"]):
            if _subchart_enabled(crd["filename"], enabled):
                result.crds += _objects(crd["filename"], crd["data"], result.parse_errors)
    for template in sorted(manifests):
        # As Helm's install: every rendered file but NOTES.txt and partials is manifests, whatever its extension.
        base = template.rsplit("/", 1)[-1]
        if base != "NOTES.txt" and not base.startswith("_"):
            result.objects += _objects(template, manifests[template], result.parse_errors)
    return result


def enabled_dependencies(metadata: dict[str, Any], merged: dict[str, Any]) -> dict[str, bool]:
    """Dependency (by chart name) -> whether the values enable it, as Helm reads `condition`: the first of its
    comma-separated paths that holds a boolean decides; none does: enabled."""
    enabled = {}
    for dependency in metadata.get("dependencies") or []:
        decided = True
        for path in str(dependency.get("condition") or "").split(","):
            value = _lookup(merged, path.strip())
            if isinstance(value, bool):
                decided = value
                break
        enabled[str(dependency["name"])] = decided
    return enabled


def _lookup(values: Any, path: str) -> Any:
    for part in path.split(".") if path else []:
        if not isinstance(values, dict) or part not in values:
            return None
        values = values[part]
    return values if path else None


def _subchart_enabled(filename: str, enabled: dict[str, bool]) -> bool:
    parts = filename.split("/")
    return not (len(parts) > 2 and parts[1] == "charts" and not enabled.get(parts[2], True))


def _objects(source: str, text: str, errors: list[str]) -> list[RenderedObject]:
    objects = []
    for manifest in SEPARATOR.split(text):
        if not manifest.strip():
            continue
        try:
            document = yamlio.load(manifest, ManifestLoader)
        except yamlio.DuplicateKeyError as error:
            # A problem of the chart, reported; the object is still judged as the cluster gets it: Helm's
            # non-strict YAML keeps a repeated key's last value.
            errors.append(f"{source}: {' '.join(str(error).split())}")
            document = yaml.load(manifest, ManifestLoader)
        except yaml.YAMLError as error:
            errors.append(f"{source}: {' '.join(str(error).split())}")
            continue
        if isinstance(document, dict) and document.get("kind"):
            objects.append(RenderedObject(source, manifest.strip() + "\n", document))
        elif document is not None:
            errors.append(f"{source}: a document that is not a Kubernetes object")
    return objects


def kube_version_allows(constraint: str, version: str) -> bool | None:
    """Whether Kubernetes `version` (`1.34`) meets a chart's `kubeVersion`; None for syntax this does not read.

    Reads what the pinned charts use: `||` between alternatives, comparisons (`>=`, `>`, `<=`, `<`, `=`, `!=`)
    joined by commas or spaces, and the `-0` suffix that admits pre-releases (every version here is a release).
    """
    target = _numbers(f"{version}.0")
    for alternative in constraint.split("||"):
        terms = re.findall(r"(>=|<=|!=|=<|=>|>|<|=)?\s*v?(\d+(?:\.\d+){0,2})(?:-[0-9A-Za-z.]+)?", alternative)
        leftover = re.sub(r"(>=|<=|!=|=<|=>|>|<|=)?\s*v?\d+(?:\.\d+){0,2}(?:-[0-9A-Za-z.]+)?|[\s,]", "", alternative)
        if not terms or leftover:
            return None
        if all(_compare(target, operator or "=", _numbers(bound)) for operator, bound in terms):
            return True
    return False


def _numbers(text: str) -> tuple[int, ...]:
    parts = [int(part) for part in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def _compare(left: tuple[int, ...], operator: str, right: tuple[int, ...]) -> bool:
    return {
        ">=": left >= right, "=>": left >= right, ">": left > right, "<=": left <= right, "=<": left <= right,
        "<": left < right, "=": left == right, "!=": left != right,
    }[operator]


def as_installed(item: RenderedObject, release: str, namespace: str) -> dict[str, Any]:
    """The object as Helm creates it: in the release's namespace unless cluster-scoped or set, with Helm's marks."""
    document = dict(item.document)
    metadata = dict(document.get("metadata") or {})
    if item.kind not in CLUSTER_SCOPED and not metadata.get("namespace"):
        metadata["namespace"] = namespace
    metadata["annotations"] = {**(metadata.get("annotations") or {}), RELEASE_NAME_ANNOTATION: release,
                               RELEASE_NAMESPACE_ANNOTATION: namespace}
    metadata["labels"] = {**(metadata.get("labels") or {}), MANAGED_BY_LABEL: "Helm"}
    document["metadata"] = metadata
    return document
