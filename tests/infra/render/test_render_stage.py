"""One stack's render over a small chart: rendered objects judged against the Kubernetes schemas of every
supported version, an object two owners would create, the chart's kubeVersion, and a chart the cache lacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.offline.render.cache import ORIGIN_FILE
from infra.offline.render.kubernetes import SUPPORTED_KUBERNETES
from infra.offline.render.planfile import RELEASE_TYPE, Plan
from infra.offline.render.report import console, summary
from infra.offline.render.stage import render_stack

STACK = "urn:pulumi:dev::demo::"


@pytest.fixture()
def cache(tmp_path: Path) -> Path:
    chart = tmp_path / "cache" / "app-1.0.0"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: app\nversion: 1.0.0\nkubeVersion: '<1.36.0-0'\n")
    (chart / "templates" / "objects.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  replicas: {{ .Values.replicas }}\n"
        "  selector: {matchLabels: {app: app}}\n  template:\n    metadata: {labels: {app: app}}\n"
        "    spec:\n      containers: [{name: app, image: app, securityContex: {}}]\n"
        "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: app-credentials\n")
    (chart / ORIGIN_FILE).write_text(json.dumps({"origin": "source", "lockable": False, "source": {
        "repo": "acme/app", "ref": "v1", "path": "app"}}))
    return tmp_path / "cache"


def demo_plan(values: dict) -> Plan:
    release = {"urn": f"{STACK}{RELEASE_TYPE}::platform-app", "type": RELEASE_TYPE, "name": "platform-app",
               "custom": True, "parent": "", "dependencies": [],
               "inputs": {"name": "app", "namespace": "apps", "chart": "app", "version": "1.0.0", "values": values}}
    secret = {"urn": f"{STACK}kubernetes:core/v1:Secret::platform-app-credentials", "type": "kubernetes:core/v1:Secret",
              "name": "platform-app-credentials", "custom": True, "parent": "", "dependencies": [],
              "inputs": {"metadata": {"name": "app-credentials", "namespace": "apps"}}}
    missing = {**release, "urn": f"{STACK}{RELEASE_TYPE}::platform-other", "name": "platform-other",
               "inputs": {"name": "other", "namespace": "apps", "chart": "other", "version": "2.0.0"}}
    return Plan({"stack": "dev", "resources": [release, secret, missing]}, Path("build/plan/dev.json"))


def test_every_check_reports_what_it_finds(cache: Path) -> None:
    render = render_stack(demo_plan({"replicas": 2.0}), cache)
    app, other = render.releases
    assert (app.status, other.status) == ("rendered", "skipped")
    assert other.reason.startswith(f"not in the chart cache {cache}; make chart-cache fills it")
    assert sorted((problem.id, problem.message) for problem in app.problems) == sorted([
        ("kubernetes-schema/app:Deployment/app:spec.template.spec.containers.0",
         "Deployment/app (app/templates/objects.yaml): spec.template.spec.containers.0: unknown field "
         "'securityContex' (every supported Kubernetes)"),
        ("kube-version/app:1.36", "the chart requires Kubernetes <1.36.0-0, not 1.36"),
        ("kube-version/app:1.37", "the chart requires Kubernetes <1.36.0-0, not 1.37"),
        ("ownership/app:Secret/apps/app-credentials",
         "Secret apps/app-credentials (core) is created by release app and resource platform-app-credentials"),
    ])
    assert SUPPORTED_KUBERNETES[0] == "1.34" and SUPPORTED_KUBERNETES[-1] == "1.37"


def test_the_summary_and_the_console_say_what_was_skipped_and_why(cache: Path) -> None:
    render = render_stack(demo_plan({"replicas": 2}), cache)
    document = summary(render)
    assert document["totals"] == {"releases": 2, "rendered": 1, "failed": 0, "skipped": 1, "objects": 2,
                                       "customResources": 0, "problems": 4}
    assert document["releases"][0]["origin"] == {"kind": "source", "from": "source acme/app@v1:app",
                                                 "lockable": False}
    lines = console(render, 0.25, Path("build/render/dev"))
    assert any(line.startswith("  other: other 2.0.0: SKIPPED, not checked: not in the chart cache")
               for line in lines)
    assert lines[-1] == ("render dev: 1 of 2 releases rendered, 1 skipped, not checked (other), 2 objects, "
                         "4 problems, 0.2 s -> build/render/dev/")


def test_a_template_helm_cannot_render_is_a_problem(cache: Path) -> None:
    (cache / "app-1.0.0" / "templates" / "broken.yaml").write_text("{{ required \"set replicas\" .Values.nothing }}")
    [app, _] = render_stack(demo_plan({"replicas": 2}), cache).releases
    assert app.status == "failed" and "set replicas" in app.reason
    assert [problem.check for problem in app.problems if problem.check == "render"] == ["render"]


def test_an_object_rendered_twice_is_a_problem(cache: Path) -> None:
    (cache / "app-1.0.0" / "templates" / "again.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: elsewhere}\n")
    [app, _] = render_stack(demo_plan({"replicas": 2}), cache).releases
    assert [problem.id for problem in app.problems if problem.check == "manifest"] == [
        "manifest/app:ConfigMap/apps/settings"]
