"""Built-in Kubernetes objects judged against the OpenAPI schemas of every supported Kubernetes version.

The schemas are kubernetes-validate's (`kubernetes-json-schema/v<version>-local-strict`): Kubernetes' own OpenAPI
definitions as JSON Schema, strict, so an unknown field is an error as it is to Helm's client-side validation.
They are loaded once per version; each object gets every error, not only the first.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
from referencing import Registry, Resource

SUPPORTED_KUBERNETES = ("1.34", "1.35", "1.36", "1.37")
"""The Kubernetes minor versions the platform supports (docs/render.md): the newest kubernetes-validate has schemas
for, and the three before it. Every rendered object is checked against each."""

# Cluster-scoped built-in kinds: an object of these has no namespace, whatever the release's namespace is.
CLUSTER_SCOPED = frozenset({
    "APIService", "CSIDriver", "CSINode", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
    "IngressClass", "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding", "MutatingWebhookConfiguration",
    "Namespace", "Node", "PersistentVolume", "PriorityClass", "RuntimeClass", "StorageClass",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "ValidatingWebhookConfiguration",
    "VolumeAttachment",
})


@dataclass(frozen=True)
class Finding:
    path: str
    """Where in the object (`spec.template.spec.containers.0.securityContext`), or empty for the whole object."""
    message: str


def is_built_in(api_version: str, kind: str) -> bool:
    """Whether any supported version defines this apiVersion and kind (else it is a custom resource)."""
    return any(_schema_file(version, api_version, kind) is not None for version in SUPPORTED_KUBERNETES)


def validate(document: dict[str, Any]) -> dict[str, list[Finding]]:
    """Kubernetes version -> the object's findings there; versions where it is valid are left out."""
    api_version, kind = str(document.get("apiVersion", "")), str(document.get("kind", ""))
    findings: dict[str, list[Finding]] = {}
    # Versions whose schema for the kind is the same give the same findings: judge the object once per schema.
    judged: dict[str, list[Finding]] = {}
    for version in SUPPORTED_KUBERNETES:
        validator = _validator(version, api_version, kind)
        if validator is None:
            findings[version] = [Finding("", f"{api_version} {kind} is not served by Kubernetes {version}")]
            continue
        fingerprint = _fingerprint(version, api_version, kind)
        if fingerprint not in judged:
            errors = sorted(validator.iter_errors(document), key=lambda error: list(map(str, error.absolute_path)))
            judged[fingerprint] = [Finding(dotted_path(error.absolute_path), describe_error(error)) for error in errors]
        if judged[fingerprint]:
            findings[version] = judged[fingerprint]
    return findings


def dotted_path(path: Any) -> str:
    return ".".join(str(part) for part in path)


def describe_error(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties" and error.validator_value is False:
        unknown = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(repr(name) for name in unknown)}"
    return error.message if len(error.message) <= 200 else error.message[:197] + "..."


def _schema_dir(version: str) -> Any:
    return resources.files("kubernetes_validate") / "kubernetes-json-schema" / f"v{version}.0-local-strict"


@cache
def _schema_file(version: str, api_version: str, kind: str) -> dict[str, Any] | None:
    # kubernetes-validate names a schema `<kind>-<first label of the group>-<version>.json`; the file's own
    # group-version-kind is compared, so a custom group that shares a first label with a built-in one is not mistaken.
    mangled = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = _schema_dir(version) / f"{kind.lower()}-{mangled}.json"
    if not path.is_file():
        return None
    schema: dict[str, Any] = json.loads(path.read_text())
    group, _, served = api_version.rpartition("/")
    declared = schema.get("x-kubernetes-group-version-kind") or []
    if not any(entry.get("group", "") == group and entry.get("version") == served and entry.get("kind") == kind
               for entry in declared):
        return None
    return schema


@cache
def _definitions(version: str) -> dict[str, Any]:
    definitions: dict[str, Any] = json.loads((_schema_dir(version) / "_definitions.json").read_text())
    return definitions


@cache
def _registry(version: str) -> Registry:
    definitions = _definitions(version)
    return Registry().with_resource(definitions["$id"], Resource.from_contents(definitions))


@cache
def _fingerprint(version: str, api_version: str, kind: str) -> str:
    """A digest of the kind's schema and every definition it reaches in this version."""
    schema = _schema_file(version, api_version, kind)
    definitions = _definitions(version)["$defs"]
    reached: dict[str, Any] = {}
    pending = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            reference = node.get("$ref")
            if isinstance(reference, str) and "#/$defs/" in reference:
                name = reference.rsplit("/", 1)[1]
                if name not in reached:
                    reached[name] = definitions[name]
                    pending.append(definitions[name])
            pending.extend(value for key, value in node.items() if key != "$ref")
        elif isinstance(node, list):
            pending.extend(node)
    text = json.dumps([schema, sorted(reached.items())], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


@cache
def _validator(version: str, api_version: str, kind: str) -> jsonschema.Draft202012Validator | None:
    schema = _schema_file(version, api_version, kind)
    if schema is None:
        return None
    return jsonschema.Draft202012Validator(schema, registry=_registry(version))
