"""The render stage over the stacks' recordings, once per test process: plans built in memory from the recordings
(as `make plan` writes them, without the policy gate), rendered from the chart cache (`DATAPLATFORM_CHART_CACHE`,
else ~/.cache/dataplatform/charts; `make chart-cache` fills it)."""

from __future__ import annotations

from infra.offline.harness import Recording
from infra.offline.render.cache import default_cache
from infra.offline.render.planfile import Plan
from infra.offline.render.stage import ReleaseResult, StackRender, render_stack

_RENDERS: dict[str, StackRender] = {}


def plan_of(recording: Recording) -> Plan:
    """The plan `make plan` would write for the recording, as the render stage reads it."""
    return Plan.of_recording(recording)


def rendered(recording: Recording) -> StackRender:
    if recording.stack not in _RENDERS:
        _RENDERS[recording.stack] = render_stack(plan_of(recording), default_cache())
    return _RENDERS[recording.stack]


def release(render: StackRender, name: str) -> ReleaseResult:
    return next(result for result in render.releases if result.release.name == name)
