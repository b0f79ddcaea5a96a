"""The render stage over one plan: every release rendered from the cache with the plan's values, and judged.

`render_stack(plan, cache)` returns what `report` writes and prints; nothing here writes files.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.model.charts import CHARTS
from infra.offline.render import kubernetes
from infra.offline.render.cache import CachedChart, lookup
from infra.offline.render.capacity import Capacity, capacity
from infra.offline.render.crds import CrdIndex, ShippedCrd
from infra.offline.render.helm import ChartRender, RenderedObject, as_installed, kube_version_allows, render_chart
from infra.offline.render.monitors import StackObject, alerting_problems, scrape_problems
from infra.offline.render.order import install_order
from infra.offline.render.planfile import DeclaredObject, Plan, Release
from infra.offline.render.problems import Problem
from infra.offline.render.values import StandIn, helm_values

CRD_KIND = "CustomResourceDefinition"


@dataclass
class ReleaseResult:
    release: Release
    cached: CachedChart | None
    status: str = "skipped"
    """`rendered`, `failed` (Helm refused the values or a template) or `skipped` (the chart is not cached)."""
    reason: str = ""
    """Why it was skipped or failed."""
    render: ChartRender | None = None
    stand_ins: list[StandIn] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def installed(self) -> list[RenderedObject]:
        """What an install creates: the `crds/` files, then every rendered object but test hooks."""
        if self.render is None:
            return []
        return [*self.render.crds, *(item for item in self.render.objects if not item.is_test)]

    @property
    def test_hooks(self) -> int:
        return sum(item.is_test for item in self.render.objects) if self.render else 0


@dataclass
class DeclaredResult:
    declared: DeclaredObject
    crd: ShippedCrd | None
    stand_ins: list[StandIn]
    problems: list[Problem]
    notes: list[str]


@dataclass
class StackRender:
    plan: Plan
    cache: Path
    releases: list[ReleaseResult]
    declared: list[DeclaredResult]
    order_problems: list[Problem]
    order_notes: list[str]
    crd_sources: list[str]
    """Charts whose CRDs were read without being released by this stack, with how."""
    uncached: tuple[str, ...]
    """Pinned charts the cache lacks."""
    scrape_problems: list[Problem] = field(default_factory=list)
    capacity: Capacity = field(default_factory=Capacity)
    """What the stack's long-running pods request (infra/offline/render/capacity.py)."""
    """Monitors that scrape nothing, alerts that reach no Alertmanager (infra/offline/render/monitors.py)."""

    @property
    def stack(self) -> str:
        return self.plan.stack

    @property
    def problems(self) -> list[Problem]:
        found = [problem for result in self.releases for problem in result.problems]
        found += [problem for result in self.declared for problem in result.problems]
        return found + self.order_problems + self.scrape_problems


def render_stack(plan: Plan, cache: Path) -> StackRender:
    results = [_render_release(release, cache) for release in plan.releases]
    crds, crd_sources = _shipped_crds(results, cache)
    uncached = tuple(sorted(pin.chart for pin in CHARTS.values() if lookup(cache, pin.chart, pin.version) is None))
    index = CrdIndex(crds, uncached)
    for result in results:
        _judge_objects(result, index)
    declared = [_judge_declared(item, index) for item in plan.declared_objects
                if not kubernetes.is_built_in(item.api_version, item.kind)]
    _find_ownership_conflicts(plan, results, index)
    installed = {result.release.name: result.installed for result in results if result.status == "rendered"}
    order_problems, order_notes = install_order(plan, installed, index)
    objects, namespaces = stack_objects(plan, results)
    scrapes = scrape_problems(objects, namespaces) + alerting_problems(objects)
    return StackRender(plan, cache, results, declared, order_problems, order_notes, crd_sources, uncached, scrapes,
                       capacity(objects))


def stack_objects(plan: Plan, results: list[ReleaseResult]) -> tuple[list[StackObject], dict[str, dict[str, str]]]:
    """What the stack creates, as far as the render sees it: every rendered object as Helm installs it (in its
    release's namespace unless it names one, with Helm's marks) and every object the program declares; and the
    labels of the stack's namespaces."""
    objects = []
    for result in results:
        objects += [StackObject(result.release.name, as_installed(item, result.release.name, result.release.namespace))
                    for item in result.installed]
    objects += [StackObject(declared.resource, declared.body) for declared in plan.declared_objects]
    namespaces = {}
    for item in objects:
        if item.kind == "Namespace" and item.group == "" and item.name:
            namespaces[item.name] = {**item.labels, "kubernetes.io/metadata.name": item.name}
    return objects, namespaces


def _render_release(release: Release, cache: Path) -> ReleaseResult:
    cached = lookup(cache, release.chart, release.version)
    result = ReleaseResult(release, cached)
    if cached is None:
        pin = CHARTS.get(release.chart)
        why = f"not in the chart cache {cache}"
        if pin is not None and pin.version == release.version and pin.no_source:
            why += f"; only its repository can fill it, as no source is recorded: {pin.no_source}"
        else:
            why += "; make chart-cache fills it from the repository, or SOURCES=<dir> from source checkouts"
        result.reason = why
        return result
    values, result.stand_ins = helm_values(release.values)
    result.render = render_chart(cached.path, values, release.name, release.namespace)
    subject = release.name
    if result.render.schema == "invalid":
        result.problems += [Problem("values-schema", subject, f"{subject}:{error.split(':')[0]}",
                                    f"values.schema.json rejects the values: {error}")
                            for error in result.render.schema_errors]
    for dependency in result.render.absent_dependencies:
        result.problems.append(Problem("dependency", subject, f"{subject}:{dependency}",
                                       f"the values enable dependency {dependency}, which the cached chart lacks"))
    if result.render.kube_version:
        for version in kubernetes.SUPPORTED_KUBERNETES:
            allowed = kube_version_allows(result.render.kube_version, version)
            if allowed is False:
                result.problems.append(Problem("kube-version", subject, f"{subject}:{version}",
                                               f"the chart requires Kubernetes {result.render.kube_version}, "
                                               f"not {version}"))
            elif allowed is None:
                result.notes.append(f"kubeVersion {result.render.kube_version!r} not read; not compared")
                break
    for error in result.render.parse_errors:
        result.problems.append(Problem("manifest", subject, f"{subject}:{error.split(':')[0]}", error))
    if result.render.render_error is not None:
        result.status, result.reason = "failed", result.render.render_error.splitlines()[0]
        result.problems.append(Problem("render", subject, subject, f"Helm cannot render: {result.reason}"))
    else:
        result.status = "rendered"
    return result


def _shipped_crds(results: list[ReleaseResult], cache: Path) -> tuple[list[ShippedCrd], list[str]]:
    """The CRDs each release installs, and those of pinned charts this stack does not release (a prod cluster
    that already runs cert-manager still gets Certificates), rendered with the values that make them ship CRDs."""
    crds = []
    for result in results:
        if result.render is None:
            continue
        for templated, items in ((False, result.render.crds), (True, result.installed[len(result.render.crds):])):
            crds += [ShippedCrd(result.render.chart, result.render.version, result.release.name, item.document,
                                templated=templated) for item in items if item.kind == CRD_KIND]
    released = {result.release.chart for result in results}
    sources = []
    for pin in sorted(CHARTS.values(), key=lambda pin: pin.chart):
        if pin.chart in released:
            continue
        cached = lookup(cache, pin.chart, pin.version)
        if cached is None:
            sources.append(f"{pin.chart} {pin.version}: not cached, its CRDs unknown")
            continue
        values: dict[str, Any] = {}
        for path, value in pin.source.crd_values if pin.source else ():
            _set(values, path, value)
        rendered = render_chart(cached.path, values, pin.chart, "default")
        if rendered.render_error is not None:
            sources.append(f"{pin.chart} {pin.version}: its CRDs unknown, it does not render with its defaults: "
                           f"{rendered.render_error.splitlines()[0]}")
            continue
        found = [item for item in [*rendered.crds, *rendered.objects] if item.kind == CRD_KIND]
        crds += [ShippedCrd(pin.chart, pin.version, None, item.document) for item in found]
        shown = ", ".join(f"{path}={value}" for path, value in pin.source.crd_values) if pin.source else ""
        sources.append(f"{pin.chart} {pin.version}: {len(found)} CRDs (chart defaults{', ' + shown if shown else ''})")
    return crds, sources


def _set(values: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        values = values.setdefault(part, {})
    values[leaf] = value


def _judge_objects(result: ReleaseResult, index: CrdIndex) -> None:
    subject = result.release.name
    identities: dict[tuple[str, str, str, str], int] = defaultdict(int)
    for item in result.installed:
        identities[_identity(item.api_version, item.kind, _namespace(item, result), item.name, index)] += 1
        if kubernetes.is_built_in(item.api_version, item.kind):
            result.problems += _kubernetes_problems(subject, item)
        else:
            verdict = index.validate(item.document)
            result.problems += [
                Problem("crd-schema", subject, f"{subject}:{item.label()}:{finding.path or '-'}",
                        f"{item.label()} ({item.source}): {_at(finding.path)}{finding.message}"
                        + (f" [{verdict.crd.describe()}]" if verdict.crd else ""))
                for finding in verdict.findings]
            if verdict.deprecation:
                result.notes.append(f"{item.label()}: deprecated: {verdict.deprecation}")
            if verdict.unchecked:
                result.notes.append(f"{item.label()}: not checked: {verdict.unchecked}")
    for (group, kind, namespace, name), count in sorted(identities.items()):
        if count > 1:
            where = f"{namespace}/" if namespace else ""
            result.problems.append(Problem("manifest", subject, f"{subject}:{kind}/{where}{name}",
                                           f"{kind} {where}{name} ({group or 'core'}) is rendered {count} times"))


def _kubernetes_problems(subject: str, item: RenderedObject) -> list[Problem]:
    by_finding: dict[tuple[str, str], list[str]] = defaultdict(list)
    for version, findings in kubernetes.validate(item.document).items():
        for finding in findings:
            by_finding[(finding.path, finding.message)].append(version)
    return [
        Problem("kubernetes-schema", subject, f"{subject}:{item.label()}:{path or '-'}",
                f"{item.label()} ({item.source}): {_at(path)}{message} ({_versions(versions)})")
        for (path, message), versions in sorted(by_finding.items())
    ]


def _versions(versions: list[str]) -> str:
    if list(versions) == list(kubernetes.SUPPORTED_KUBERNETES):
        return "every supported Kubernetes"
    return "Kubernetes " + ", ".join(versions)


def _at(path: str) -> str:
    return f"{path}: " if path else ""


def _judge_declared(declared: DeclaredObject, index: CrdIndex) -> DeclaredResult:
    document, stand_ins = helm_values(declared.body)
    verdict = index.validate(document)
    problems = [
        Problem("crd-schema", declared.resource, f"{declared.resource}:{finding.path or '-'}",
                f"{declared.kind} {declared.resource}: {_at(finding.path)}{finding.message}"
                + (f" [{verdict.crd.describe()}]" if verdict.crd else ""))
        for finding in verdict.findings
    ]
    notes = [f"deprecated: {verdict.deprecation}"] if verdict.deprecation else []
    notes += [f"not checked: {verdict.unchecked}"] if verdict.unchecked else []
    return DeclaredResult(declared, verdict.crd, stand_ins, problems, notes)


def _find_ownership_conflicts(plan: Plan, results: list[ReleaseResult], index: CrdIndex) -> None:
    """An object two owners create (two releases, or a release and the program) fails the second create: Helm
    refuses to adopt an object another release or the program owns."""
    owners: dict[tuple[str, str, str, str], set[str]] = defaultdict(set)
    for result in results:
        for item in result.installed:
            owners[_identity(item.api_version, item.kind, _namespace(item, result), item.name, index)].add(
                f"release {result.release.name}")
    for declared in plan.declared_objects:
        metadata = declared.body.get("metadata") or {}
        namespace = str(metadata.get("namespace") or "default")
        owners[_identity(declared.api_version, declared.kind, namespace, str(metadata.get("name", "")), index)].add(
            f"resource {declared.resource}")
    by_release = {result.release.name: result for result in results}
    for (group, kind, namespace, name), holders in sorted(owners.items()):
        releases = sorted(holder.removeprefix("release ") for holder in holders if holder.startswith("release "))
        if len(holders) < 2 or not releases:
            continue
        where = f"{namespace}/" if namespace else ""
        by_release[releases[0]].problems.append(Problem(
            "ownership", releases[0], f"{releases[0]}:{kind}/{where}{name}",
            f"{kind} {where}{name} ({group or 'core'}) is created by {' and '.join(sorted(holders))}"))


def _namespace(item: RenderedObject, result: ReleaseResult) -> str:
    """Where Helm creates the object: its own namespace, else the release's."""
    return str((item.document.get("metadata") or {}).get("namespace") or result.release.namespace)


def _identity(api_version: str, kind: str, namespace: str, name: str,
              index: CrdIndex) -> tuple[str, str, str, str]:
    """Group, kind, namespace (empty for a cluster-scoped kind) and name: what makes two objects the same one."""
    crd = index.find(api_version, kind)
    namespaced = crd.namespaced if crd is not None else kind not in kubernetes.CLUSTER_SCOPED
    return api_version.rpartition("/")[0], kind, namespace if namespaced else "", name
