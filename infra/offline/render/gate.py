"""The policy gate over what the charts render: the pack's policies judge each rendered object as a resource.

Under `pulumi preview --policy-pack` a `helm.v3.Release` is one opaque resource: the pack sees its `values`, never
the pods, ConfigMaps and Services the chart makes of them. This module runs the program again under mocks (as
`make plan` does), adds every object each release installs as a child resource of that release, of the type the
Kubernetes provider gives such an object (`kubernetes:apps/v1:Deployment`, `kubernetes:core/v1:ConfigMap`), and
drives the pack over the whole set through the same analyzer interface. Each rendered object carries what Helm
adds when it installs it (the `meta.helm.sh/release-name` and `-namespace` annotations, the
`app.kubernetes.io/managed-by: Helm` label), which is how a policy knows the release an object belongs to.

Only the gate judges rendered objects; docs/policies.md says which policies that concerns.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from infra.model.stackfiles import REPO_ROOT, load_stack
from infra.offline.gate import GateReport, run_gate
from infra.offline.harness import RecordedResource, run_program
from infra.offline.render.helm import as_installed
from infra.offline.render.planfile import resource_type
from infra.offline.render.stage import StackRender


@dataclass(frozen=True)
class RenderedResource:
    release: str
    kind: str
    name: str
    namespace: str
    resource: RecordedResource


def rendered_resources(render: StackRender) -> list[RenderedResource]:
    """Every object the rendered releases install, as resources the gate can judge."""
    found = []
    for result in render.releases:
        if result.status != "rendered":
            continue
        release = result.release
        for item in result.installed:
            document = as_installed(item, release.name, release.namespace)
            namespace = str(document["metadata"].get("namespace") or "")
            type_ = resource_type(item.api_version, item.kind)
            name = f"{release.name}:{namespace}/{item.name}" if namespace else f"{release.name}:{item.name}"
            resource = RecordedResource(
                urn=f"{release.urn}${type_}::{name}", type=type_, name=name, custom=True, parent=release.urn,
                dependencies=[release.urn], property_dependencies={}, protect=False, inputs=document, provider="",
                ignore_changes=[], aliases=[], additional_secret_outputs=[], delete_before_replace=False,
                retain_on_delete=False)
            found.append(RenderedResource(release.name, item.kind, item.name, namespace, resource))
    return found


@dataclass
class RenderGate:
    report: GateReport
    rendered: list[RenderedResource]

    @property
    def findings(self) -> list[dict[str, str]]:
        """The violations on rendered objects (the plan's own are `make plan`'s to report)."""
        urns = {item.resource.urn for item in self.rendered}
        return [violation for violation in self.report.violations if violation.get("urn") in urns]

    @property
    def mandatory(self) -> list[dict[str, str]]:
        return [violation for violation in self.findings if violation["level"] == "mandatory"]


def judge(render: StackRender, root: Path = REPO_ROOT) -> RenderGate:
    """The pack over the program's resources plus every rendered object, with `policies/config/<stack>.json`."""
    from infra.program import main

    settings = load_stack(render.stack, root)
    recording = run_program(main, settings)
    rendered = rendered_resources(render)
    recording.resources.extend(item.resource for item in rendered)
    return RenderGate(run_gate(recording, render.stack), rendered)


def describe(gate: RenderGate) -> list[str]:
    """Console lines: one per finding on a rendered object, then a count."""
    by_urn = {item.resource.urn: item for item in gate.rendered}
    lines = []
    for violation in sorted(gate.findings, key=lambda found: (found["urn"], found["policy"])):
        item = by_urn[violation["urn"]]
        lines.append(f"  [{violation['level']}] {violation['policy']} {item.release}: {item.kind} "
                     f"{item.namespace + '/' if item.namespace else ''}{item.name}: {violation['message']}")
    lines.append(f"gate over the render: {len(gate.rendered)} rendered objects judged, {len(gate.findings)} "
                 f"violations ({len(gate.mandatory)} mandatory)")
    return lines
