"""Both stacks' releases render from the chart cache with the plan's values and pass every check, except the
defects found on the main this stage started from, each a strict expected failure until it is fixed.

A chart the cache lacks is skipped with a message naming it (also under CI=true: the cache is optional, `make
chart-cache` fills it); everything else about that chart is then unchecked.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.model.charts import CHARTS
from infra.offline.render.__main__ import main as render_main
from infra.offline.render.cache import default_cache, lookup
from infra.offline.render.stage import StackRender
from tests.support.render import plan_of, release, rendered

STACKS = ("dev", "prod")
RELEASES = {
    "dev": ("airbyte", "cert-manager", "cloudnative-pg", "elastic-operator", "elasticsearch-exporter", "fluent-bit",
            "minio", "plugin-barman-cloud", "prometheus", "redis"),
    "prod": ("airbyte", "elastic-operator", "elasticsearch-exporter", "fluent-bit", "prometheus", "redis"),
}
# Values the plan cannot know, rendered with stand-ins: release -> paths.
STAND_INS = {"dev": {}, "prod": {"airbyte": ["global.database.host"]}}


@dataclass(frozen=True)
class Defect:
    """A defect the render stage finds on the current main; issue 11 fixes it, and then its test passes, which
    fails the suite (strict) until the entry is removed here."""

    name: str
    problem: str
    """The id of the problem the render stage reports for it."""
    charts: tuple[str, ...]
    """The charts the render needs to see it."""
    reason: str


AIRBYTE_ENV_DUPLICATE_KEY = Defect(
    "airbyte-env-configmap-repeats-a-key",
    "manifest/airbyte:airbyte/templates/env-configmap.yaml",
    ("airbyte",),
    "Airbyte's chart V2 (every 2.x release in airbytehq/charts' index) writes DATAPLANE_CLIENT_ID_SECRET_KEY twice "
    "into its env ConfigMap (`airbyte.auth.bootstrap.configVars` and `airbyte.workloadLauncher.dataPlane.configVars`); "
    "Helm's non-strict YAML keeps the last, and both resolve to the same key unless "
    "`workloadLauncher.dataPlane.clientIdSecretKey` is set, which the platform does not; YAML forbids the repeat",
)
DEFECTS: dict[str, tuple[Defect, ...]] = {"dev": (AIRBYTE_ENV_DUPLICATE_KEY,), "prod": (AIRBYTE_ENV_DUPLICATE_KEY,)}


def known(stack: str) -> set[str]:
    return {defect.problem for defect in DEFECTS[stack]}


@pytest.fixture()
def render(request, stack_recording) -> StackRender:
    return rendered(stack_recording(request.node.callspec.params["stack"]))


def uncached(charts: tuple[str, ...]) -> list[str]:
    return [chart for chart in charts if lookup(default_cache(), chart, CHARTS[chart].version) is None]


def require_charts(charts: tuple[str, ...]) -> None:
    missing = uncached(charts)
    if missing:
        pytest.skip(f"not in the chart cache {default_cache()}: {', '.join(missing)} (make chart-cache)")


@pytest.mark.parametrize("stack", STACKS)
def test_the_plan_releases_what_these_tests_name(render: StackRender, stack: str) -> None:
    assert tuple(result.release.name for result in render.releases) == RELEASES[stack]


@pytest.mark.parametrize(("stack", "name"), [(stack, name) for stack in STACKS for name in RELEASES[stack]])
def test_release_renders_and_passes_every_check(render: StackRender, stack: str, name: str) -> None:
    result = release(render, name)
    if result.status == "skipped":
        pytest.skip(f"{stack} release {name}: {result.reason}")
    unexpected = [problem for problem in result.problems if problem.id not in known(stack)]
    assert result.status == "rendered", result.reason
    assert not unexpected, "\n".join(f"{problem.id}: {problem.message}" for problem in unexpected)
    assert result.installed, "the release renders nothing"


@pytest.mark.parametrize("stack", STACKS)
def test_declared_custom_resources_match_their_charts_crds(render: StackRender, stack: str) -> None:
    problems = [problem for result in render.declared for problem in result.problems
                if problem.id not in known(stack)]
    assert not problems, "\n".join(problem.message for problem in problems)
    unjudged = sorted({result.declared.kind for result in render.declared if result.crd is None})
    if unjudged:
        pytest.skip(f"{stack}: not judged, their charts are not in the chart cache: {', '.join(unjudged)}")


@pytest.mark.parametrize("stack", STACKS)
def test_every_custom_kind_waits_for_the_release_that_installs_its_crd(render: StackRender, stack: str) -> None:
    """Over the plan's dependency graph: a release rendering a CRD's kinds waits for the release installing the
    CRD, and every custom resource the program declares waits for its operator's release."""
    unexpected = [problem for problem in render.order_problems if problem.id not in known(stack)]
    assert not unexpected, "\n".join(problem.message for problem in unexpected)
    unchecked = [note for note in render.order_notes if note.startswith("not checked")]
    if unchecked:
        pytest.skip(f"{stack}: {'; '.join(unchecked)}")


@pytest.mark.parametrize("stack", STACKS)
def test_every_monitor_scrapes_something_a_prometheus_picks_up(render: StackRender, stack: str) -> None:
    """Each ServiceMonitor and PodMonitor selects a Service or pod of the stack (or one the cluster provides) with the
    port it names, and the stack's Prometheus selects it; Prometheus reaches its Alertmanager on the scheme it
    serves."""
    require_charts(("kube-prometheus-stack",))
    unexpected = [problem for problem in render.scrape_problems if problem.id not in known(stack)]
    assert not unexpected, "\n".join(problem.message for problem in unexpected)


@pytest.mark.parametrize(
    ("stack", "defect"),
    [pytest.param(stack, defect, id=f"{stack}-{defect.name}",
                  marks=pytest.mark.xfail(strict=True, reason=defect.reason))
     for stack in STACKS for defect in DEFECTS[stack]],
)
def test_known_defect_is_fixed(render: StackRender, stack: str, defect: Defect) -> None:
    require_charts(defect.charts)
    found = {problem.id: problem.message for problem in render.problems}
    assert defect.problem not in found, found.get(defect.problem)


@pytest.mark.parametrize("stack", STACKS)
def test_only_the_values_the_plan_cannot_know_get_stand_ins(render: StackRender, stack: str) -> None:
    stand_ins = {result.release.name: [stand_in.path for stand_in in result.stand_ins]
                 for result in render.releases if result.stand_ins}
    expected = {name: paths for name, paths in STAND_INS[stack].items()
                if release(render, name).status != "skipped"}
    assert stand_ins == expected


@pytest.fixture()
def valkey_only_cache(tmp_path: Path) -> Path:
    """A cache holding only the smallest pinned chart, so the command-line runs stay short."""
    pin = CHARTS["valkey"]
    cached = lookup(default_cache(), pin.chart, pin.version)
    if cached is None:
        pytest.skip(f"not in the chart cache {default_cache()}: valkey (make chart-cache)")
    cache = tmp_path / "cache"
    shutil.copytree(cached.path, cache / cached.path.name)
    return cache


def test_the_command_writes_the_same_bytes_twice_and_exits_by_its_findings(
        stack_recording, valkey_only_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan_file = tmp_path / "plan" / "dev.json"
    plan_file.parent.mkdir()
    plan_file.write_text(json.dumps(plan_of(stack_recording("dev")).document))
    outputs = []
    for run in ("first", "second"):
        code = render_main(["--stack", "dev", "--plan", str(plan_file), "--cache", str(valkey_only_cache),
                            "--out", str(tmp_path / run)])
        folder = tmp_path / run / "dev"
        outputs.append({path.name: path.read_bytes() for path in sorted(folder.iterdir())})
        summary = json.loads((folder / "summary.json").read_text())
        assert code == (1 if summary["totals"]["problems"] else 0)
    assert outputs[0] == outputs[1]
    assert sorted(outputs[0]) == ["redis.yaml", "summary.json"]
    printed = capsys.readouterr().out
    assert f"airbyte: airbyte {CHARTS['airbyte'].version}: SKIPPED, not checked: not in the chart cache" in printed
    assert "render dev: 1 of 10 releases rendered" in printed


def test_the_command_refuses_an_unknown_stack_and_a_missing_plan(tmp_path: Path) -> None:
    assert render_main(["--stack", "nosuchstack", "--out", str(tmp_path)]) == 2
    assert render_main(["--stack", "dev", "--plan", str(tmp_path / "absent.json"), "--out", str(tmp_path)]) == 2
