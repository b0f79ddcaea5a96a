"""What the render stage reads from an offline plan (`build/plan/<stack>.json`, infra/offline/plan.py): the Helm
releases, the custom resources the program declares, and the order Pulumi creates resources in."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
# `kubernetes:<group>/<version>:<Kind>`; the core group is `core`.
KUBERNETES_TYPE = re.compile(r"^kubernetes:(?P<group>[^/:]+)/(?P<version>[^:]+):(?P<kind>[A-Za-z0-9]+)$")


def resource_type(api_version: str, kind: str) -> str:
    """The Kubernetes provider's type token: `v1` objects are `core/v1`."""
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    return f"kubernetes:{group_version}:{kind}"


@dataclass(frozen=True)
class Release:
    urn: str
    resource: str
    """The Pulumi resource name (`platform-runtime-cert-manager`)."""
    name: str
    """The Helm release name."""
    namespace: str
    chart: str
    version: str
    repository: str
    values: Any
    """The `values` input in wire form."""


@dataclass(frozen=True)
class DeclaredObject:
    """A Kubernetes object the program declares itself (not through a chart)."""

    urn: str
    resource: str
    api_version: str
    kind: str
    body: dict[str, Any]
    """The inputs in wire form: apiVersion, kind, metadata, spec..."""

    @property
    def group(self) -> str:
        return self.api_version.split("/")[0] if "/" in self.api_version else ""


class Plan:
    def __init__(self, document: dict[str, Any], path: Path) -> None:
        self.document = document
        self.path = path
        self.stack: str = document["stack"]
        self.resources: dict[str, dict[str, Any]] = {resource["urn"]: resource for resource in document["resources"]}

    @classmethod
    def load(cls, path: Path) -> Plan:
        return cls(json.loads(path.read_text()), path)

    @classmethod
    def of_recording(cls, recording: Any) -> Plan:
        """The plan `make plan` would write for a recording of the program (without the policy gate's results)."""
        from infra.model.stackfiles import REPO_ROOT
        from infra.offline.plan import resource_entry

        resources = [resource_entry(resource) for resource in sorted(recording.resources, key=lambda r: r.urn)]
        document = {"stack": recording.stack, "project": recording.project, "resources": resources}
        return cls(document, REPO_ROOT / "build" / "plan" / f"{recording.stack}.json")

    @cached_property
    def releases(self) -> list[Release]:
        releases = []
        for resource in self.resources.values():
            if resource["type"] != RELEASE_TYPE:
                continue
            inputs = resource["inputs"]
            releases.append(Release(
                urn=resource["urn"], resource=resource["name"], name=inputs.get("name", resource["name"]),
                namespace=inputs.get("namespace", "default"), chart=inputs["chart"], version=inputs["version"],
                repository=(inputs.get("repositoryOpts") or {}).get("repo", ""), values=inputs.get("values") or {},
            ))
        return sorted(releases, key=lambda release: release.name)

    @cached_property
    def declared_objects(self) -> list[DeclaredObject]:
        """Every Kubernetes object the program declares, but releases (`kubernetes:<group>/<version>:<Kind>`)."""
        objects = []
        for resource in self.resources.values():
            match = KUBERNETES_TYPE.match(resource["type"])
            if not match or resource["type"] == RELEASE_TYPE:
                continue
            group, version = match["group"], match["version"]
            api_version = version if group == "core" else f"{group}/{version}"
            body = {**resource["inputs"], "apiVersion": api_version, "kind": match["kind"]}
            objects.append(DeclaredObject(resource["urn"], resource["name"], api_version, match["kind"], body))
        return sorted(objects, key=lambda declared: declared.urn)

    def name_of(self, urn: str) -> str:
        return self.resources[urn]["name"] if urn in self.resources else urn

    def waits_for(self, urn: str) -> set[str]:
        """Every resource Pulumi creates before `urn`: its dependencies (explicit and through its inputs) and its
        parent, transitively. A child waits for its parent's registration, and a parent registers only once its
        own dependencies exist, so a component's dependencies order its children too."""
        return set(self._closure[urn])

    @cached_property
    def _closure(self) -> dict[str, frozenset[str]]:
        closure: dict[str, frozenset[str]] = {}

        def visit(urn: str, trail: frozenset[str]) -> frozenset[str]:
            if urn in closure:
                return closure[urn]
            resource = self.resources.get(urn)
            if resource is None or urn in trail:
                return frozenset()
            direct = set(resource["dependencies"])
            if resource["parent"] in self.resources:
                direct.add(resource["parent"])
            found: set[str] = set(direct)
            for before in direct:
                found |= visit(before, trail | {urn})
            closure[urn] = frozenset(found)
            return closure[urn]

        for urn in self.resources:
            visit(urn, frozenset())
        return closure
