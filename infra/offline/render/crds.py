"""Custom resources judged against the `openAPIV3Schema` of the CRD the pinned chart ships.

A CRD version's schema is OpenAPI v3 with Kubernetes extensions; it is read as JSON Schema draft 4 (whose
boolean `exclusiveMinimum` OpenAPI keeps) with what the API server adds: `nullable` admits null,
`x-kubernetes-int-or-string` admits both, and an object that lists its properties and neither sets
`additionalProperties` nor `x-kubernetes-preserve-unknown-fields` admits no other field (the API server would prune
it, silently dropping the setting; Helm's client-side validation refuses it). An embedded resource
(`x-kubernetes-embedded-resource`) also admits apiVersion, kind and metadata.

Not checked: the CRD's CEL rules (`x-kubernetes-validations`), `format`, and what the operator's admission webhook
decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jsonschema

from infra.offline.render.kubernetes import Finding, describe_error, dotted_path

EMBEDDED_FIELDS = {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}}


@dataclass(frozen=True)
class ShippedCrd:
    """A CRD as a pinned chart ships it, and the release that installs it in this stack (None: not installed here)."""

    chart: str
    version: str
    release: str | None
    definition: dict[str, Any]
    templated: bool = False
    """Rendered from a template rather than installed from `crds/`: Helm creates it with the other objects."""

    @property
    def group(self) -> str:
        return str(self.definition["spec"]["group"])

    @property
    def kind(self) -> str:
        return str(self.definition["spec"]["names"]["kind"])

    @property
    def namespaced(self) -> bool:
        return self.definition["spec"].get("scope", "Namespaced") == "Namespaced"

    def served(self, version: str) -> dict[str, Any] | None:
        for entry in self.definition["spec"].get("versions") or []:
            if entry.get("name") == version and entry.get("served", False):
                return dict(entry)
        return None

    def describe(self) -> str:
        where = f"release {self.release}" if self.release else "not installed by this stack"
        return f"CRD {self.definition['metadata']['name']} of chart {self.chart} {self.version} ({where})"


@dataclass(frozen=True)
class Verdict:
    crd: ShippedCrd | None
    """The CRD that defines the kind; None when no pinned chart ships one."""
    findings: list[Finding]
    deprecation: str | None = None
    """The CRD's warning when the version is deprecated (a note, not a problem: the API server still serves it)."""
    unchecked: str | None = None
    """Why the object could not be judged (its CRD may be in a chart the cache lacks)."""


class CrdIndex:
    """The CRDs of the pinned charts, by group and kind; a CRD installed by a release of the stack comes first."""

    def __init__(self, crds: list[ShippedCrd], uncached: tuple[str, ...] = ()) -> None:
        self.uncached = uncached
        """Pinned charts the cache lacks: a kind no cached chart defines may be theirs."""
        self._by_kind: dict[tuple[str, str], ShippedCrd] = {}
        for crd in sorted(crds, key=lambda crd: (crd.release is None, crd.chart)):
            self._by_kind.setdefault((crd.group, crd.kind), crd)
        self._validators: dict[tuple[str, str, str], jsonschema.Draft4Validator | None] = {}

    def find(self, api_version: str, kind: str) -> ShippedCrd | None:
        return self._by_kind.get((api_version.rpartition("/")[0], kind))

    def validate(self, document: dict[str, Any]) -> Verdict:
        """The CRD that defines the object's kind, and what its schema finds wrong with the object."""
        api_version, kind = str(document.get("apiVersion", "")), str(document.get("kind", ""))
        crd = self.find(api_version, kind)
        if crd is None and self.uncached:
            return Verdict(None, [], unchecked=f"no cached chart ships a CRD for {api_version} {kind}, and "
                                               f"{', '.join(self.uncached)} could not be read")
        if crd is None:
            return Verdict(None, [Finding("", f"no pinned chart ships a CRD for {api_version} {kind}")])
        served = api_version.rpartition("/")[2]
        version = crd.served(served)
        if version is None:
            return Verdict(crd, [Finding("", f"{crd.describe()} does not serve version {served}")])
        deprecation = None
        if version.get("deprecated"):
            deprecation = str(version.get("deprecationWarning") or f"{api_version} {kind} is deprecated")
        validator = self._validator(crd, version)
        findings = []
        if validator is not None:
            errors = sorted(validator.iter_errors(document), key=lambda error: list(map(str, error.absolute_path)))
            findings = [Finding(dotted_path(error.absolute_path), describe_error(error)) for error in errors]
        return Verdict(crd, findings, deprecation)

    def _validator(self, crd: ShippedCrd, version: dict[str, Any]) -> jsonschema.Draft4Validator | None:
        key = (crd.group, crd.kind, str(version["name"]))
        if key not in self._validators:
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            self._validators[key] = jsonschema.Draft4Validator(as_json_schema(schema)) if schema else None
        return self._validators[key]


def as_json_schema(openapi: dict[str, Any]) -> dict[str, Any]:
    """The CRD schema as JSON Schema, read as the API server reads it (see the module's docstring)."""
    schema = _convert(openapi)
    # The API server fills these in; a CRD's schema may leave them out.
    schema.setdefault("properties", {}).update(
        {key: value for key, value in EMBEDDED_FIELDS.items() if key not in schema["properties"]})
    return schema


def _convert(node: Any) -> Any:
    """One schema node; only keywords that hold schemas are descended into (a field may be named `type`)."""
    if not isinstance(node, dict):
        return node
    node = dict(node)
    for keyword in ("properties", "patternProperties"):
        if isinstance(node.get(keyword), dict):
            node[keyword] = {name: _convert(schema) for name, schema in node[keyword].items()}
    for keyword in ("additionalProperties", "items", "not"):
        if isinstance(node.get(keyword), dict):
            node[keyword] = _convert(node[keyword])
    for keyword in ("allOf", "anyOf", "oneOf"):
        if isinstance(node.get(keyword), list):
            node[keyword] = [_convert(schema) for schema in node[keyword]]
    if node.get("x-kubernetes-int-or-string"):
        node.pop("type", None)
        node.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("nullable") and "type" in node:
        node["type"] = [node["type"], "null"]
        if "enum" in node:
            node["enum"] = [*node["enum"], None]
    if node.get("x-kubernetes-embedded-resource"):
        node["properties"] = {**EMBEDDED_FIELDS, **node.get("properties", {})}
    if ("properties" in node and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")):
        node["additionalProperties"] = False
    return node
