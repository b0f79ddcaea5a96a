"""The policy pack judges what the charts render (infra/offline/render/gate.py), as the deploy workflow does
before `pulumi up`: every finding on a rendered object is one of the defects found on the main this check started
from, each a strict expected failure until it is fixed, so a new finding fails the suite and a fix shows.

Needs the chart cache (`make chart-cache`); a chart the cache lacks is not rendered, so not judged
(tests/infra/render/test_render_stacks.py names it).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from infra.offline.render.gate import RenderGate, judge
from infra.offline.render.stage import StackRender
from tests.support.render import rendered

STACKS = ("dev", "prod")


@dataclass(frozen=True)
class GateDefect:
    name: str
    policy: str
    release: str
    objects: tuple[str, ...]
    """`<Kind>/<name>` of the rendered objects it concerns; empty: every object of the release."""
    reason: str

    def matches(self, finding: dict[str, str], gate: RenderGate) -> bool:
        item = next(item for item in gate.rendered if item.resource.urn == finding["urn"])
        return (finding["policy"] == self.policy and (self.release == "*" or item.release == self.release)
                and (not self.objects or f"{item.kind}/{item.name}" in self.objects))


UNPINNED_IMAGES = GateDefect(
    "chart-images-not-pinned-by-digest", "kubernetes-image-require-digest", "*", (),
    "images/vendor.lock.json has no digest yet: the image-lock workflow (.github/workflows/image-lock.yml) fills "
    "them from the registries, which only it can reach; until then every rendered image is pinned by tag only "
    "(tests/infra/render/test_render_images.py proves that a lock with every digest pins every image, except the "
    "chart defaults it lists as known gaps)",
)
DEFECTS = {
    "dev": (UNPINNED_IMAGES,),
    "prod": (UNPINNED_IMAGES,),
}
_GATES: dict[str, RenderGate] = {}


@pytest.fixture()
def gate(request, stack_recording) -> RenderGate:
    stack = request.node.callspec.params["stack"]
    if stack not in _GATES:
        render: StackRender = rendered(stack_recording(stack))
        if not any(result.status == "rendered" for result in render.releases):
            pytest.skip(f"{stack}: no chart in the chart cache {render.cache}, nothing rendered (make chart-cache)")
        _GATES[stack] = judge(render)
    return _GATES[stack]


def describe(gate: RenderGate, findings: list[dict[str, str]]) -> str:
    by_urn = {item.resource.urn: item for item in gate.rendered}
    return "\n".join(f"{found['policy']} {by_urn[found['urn']].release} {by_urn[found['urn']].kind}/"
                     f"{by_urn[found['urn']].name}: {found['message']}" for found in findings)


@pytest.mark.parametrize("stack", STACKS)
def test_every_finding_on_a_rendered_object_is_a_known_defect(gate: RenderGate, stack: str) -> None:
    unknown = [found for found in gate.findings if not any(defect.matches(found, gate) for defect in DEFECTS[stack])]
    assert not unknown, describe(gate, unknown)


@pytest.mark.parametrize("stack", STACKS)
def test_rendered_objects_carry_what_helm_adds_on_install(gate: RenderGate, stack: str) -> None:
    for item in gate.rendered:
        metadata = item.resource.inputs["metadata"]
        assert metadata["annotations"]["meta.helm.sh/release-name"] == item.release
        assert metadata["labels"]["app.kubernetes.io/managed-by"] == "Helm"
        assert "$kubernetes:helm.sh/v3:Release::" in item.resource.parent, item.resource.parent


@pytest.mark.parametrize(
    ("stack", "defect"),
    [pytest.param(stack, defect, id=f"{stack}-{defect.name}",
                  marks=pytest.mark.xfail(strict=True, reason=defect.reason))
     for stack in STACKS for defect in DEFECTS[stack]],
)
def test_known_gate_defect_is_fixed(gate: RenderGate, stack: str, defect: GateDefect) -> None:
    found = [finding for finding in gate.findings if defect.matches(finding, gate)]
    assert not found, describe(gate, found)
