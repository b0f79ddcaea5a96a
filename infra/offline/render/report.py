"""What the render stage writes and prints: `<out>/<stack>/<release>.yaml`, `<out>/<stack>/summary.json`, and a
console summary. The same plan and cache give the same bytes; no time or machine path is written."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from infra.model.stackfiles import REPO_ROOT
from infra.offline.render.kubernetes import SUPPORTED_KUBERNETES
from infra.offline.render.problems import Problem
from infra.offline.render.stage import ReleaseResult, StackRender

NO_SCHEMA = "none (the chart ships no values.schema.json)"


def write(render: StackRender, out: Path) -> Path:
    """Write the manifests and the summary into `out/<stack>/`, removing a previous run's files first."""
    folder = out / render.stack
    folder.mkdir(parents=True, exist_ok=True)
    for stale in [*folder.glob("*.yaml"), folder / "summary.json"]:
        stale.unlink(missing_ok=True)
    for result in render.releases:
        if result.render is not None and result.status == "rendered":
            (folder / f"{result.release.name}.yaml").write_text(manifests(result))
    (folder / "summary.json").write_text(json.dumps(summary(render), indent=2) + "\n")
    return folder


def manifests(result: ReleaseResult) -> str:
    """What the release installs, `crds/` first, each object under the template it came from."""
    release = result.release
    header = [
        f"# Release {release.name} (Pulumi resource {release.resource}) in namespace {release.namespace}: chart "
        f"{release.chart} {release.version}, from {result.cached.describe() if result.cached else '-'}.",
        "# Rendered by Helm's Go SDK with the plan's values; `helm test` hooks are left out "
        f"({result.test_hooks}).",
    ]
    header += [f"# Stand-in (the plan does not know it): {stand_in.path} = {stand_in.value} (was {stand_in.was})"
               for stand_in in result.stand_ins]
    documents = [f"---\n# Source: {item.source}\n{item.text}" for item in result.installed]
    return "\n".join(header) + "\n" + "".join(documents)


def summary(render: StackRender) -> dict[str, Any]:
    import helm_python

    rendered = [result for result in render.releases if result.status == "rendered"]
    return {
        "stack": render.stack,
        "plan": _relative(render.plan.path),
        "helm": helm_python.helm_sdk_version(),
        "kubernetesVersions": list(SUPPORTED_KUBERNETES),
        "releases": [_release(result) for result in render.releases],
        "customResources": [
            {
                "resource": result.declared.resource,
                "apiVersion": result.declared.api_version,
                "kind": result.declared.kind,
                "crd": result.crd.describe() if result.crd else None,
                "standIns": [vars(stand_in) for stand_in in result.stand_ins],
                "problems": [_problem(problem) for problem in result.problems],
                "notes": result.notes,
            }
            for result in render.declared
        ],
        "installOrder": {
            "problems": [_problem(problem) for problem in render.order_problems],
            "notes": render.order_notes,
        },
        "scrapes": {"problems": [_problem(problem) for problem in render.scrape_problems]},
        "capacity": {"pods": render.capacity.pods, "cpuCores": round(render.capacity.cpu, 3),
                     "memoryGiB": round(render.capacity.memory / 2**30, 2),
                     "storageGiB": round(render.capacity.storage / 2**30, 1),
                     "containersWithoutRequests": render.capacity.unset,
                     "notRendered": sorted(result.release.name for result in render.releases
                                           if result.status != "rendered")},
        "crdsOfChartsNotReleased": render.crd_sources,
        "chartsNotCached": list(render.uncached),
        "totals": {
            "releases": len(render.releases),
            "rendered": len(rendered),
            "failed": sum(result.status == "failed" for result in render.releases),
            "skipped": sum(result.status == "skipped" for result in render.releases),
            "objects": sum(len(result.installed) for result in rendered),
            "customResources": len(render.declared),
            "problems": len(render.problems),
        },
    }


def _release(result: ReleaseResult) -> dict[str, Any]:
    release, chart = result.release, result.render
    entry: dict[str, Any] = {
        "release": release.name,
        "resource": release.resource,
        "namespace": release.namespace,
        "chart": release.chart,
        "version": release.version,
        "repository": release.repository,
        "status": result.status,
        "reason": result.reason or None,
        "origin": None if result.cached is None else {
            "kind": result.cached.kind,
            "from": result.cached.describe(),
            "lockable": result.cached.lockable,
        },
    }
    if chart is not None:
        entry |= {
            "valuesSchema": chart.schema,
            "kubeVersion": chart.kube_version,
            "objects": len(result.installed),
            "crds": len(chart.crds),
            "testHooks": result.test_hooks,
            "kinds": dict(sorted(Counter(f"{item.api_version} {item.kind}" for item in result.installed).items())),
            "manifests": f"{release.name}.yaml" if result.status == "rendered" else None,
        }
    entry |= {
        "standIns": [vars(stand_in) for stand_in in result.stand_ins],
        "problems": [_problem(problem) for problem in result.problems],
        "notes": result.notes,
    }
    return entry


def _problem(problem: Problem) -> dict[str, str]:
    return {"id": problem.id, "check": problem.check, "message": problem.message}


def _relative(path: Path) -> str:
    resolved = path.resolve()
    return str(resolved.relative_to(REPO_ROOT)) if resolved.is_relative_to(REPO_ROOT) else str(path)


def console(render: StackRender, seconds: float, folder: Path) -> list[str]:
    versions = f"{SUPPORTED_KUBERNETES[0]} to {SUPPORTED_KUBERNETES[-1]}"
    lines = [f"render {render.stack}: plan {_relative(render.plan.path)}, charts from {render.cache}, "
             f"objects judged against Kubernetes {versions} and the pinned charts' CRDs"]
    for result in render.releases:
        lines += _release_lines(result)
    declared_problems = [problem for result in render.declared for problem in result.problems]
    unchecked = [result for result in render.declared if result.crd is None and not result.problems]
    judged = len(render.declared) - len(unchecked)
    lines.append(f"  custom resources the program declares: {judged} of {len(render.declared)} judged against their "
                 f"CRDs, {len(declared_problems)} problems")
    lines += [f"      - {problem.message}" for problem in declared_problems]
    if unchecked:
        kinds = Counter(f"{result.declared.api_version} {result.declared.kind}" for result in unchecked)
        lines.append(f"      not checked, no cached chart defines their kind (not cached: "
                     f"{', '.join(render.uncached)}): " + ", ".join(f"{kind} x{count}" for kind, count in
                                                                   sorted(kinds.items())))
    lines.append(f"  install order: {len(render.order_problems)} problems")
    lines += [f"      - {problem.message}" for problem in render.order_problems]
    lines += [f"      note: {note}" for note in render.order_notes]
    skipped = sorted(result.release.name for result in render.releases if result.status != "rendered")
    lines.append(f"  capacity: {render.capacity.line()}"
                 + (f" (not counted, not rendered: {', '.join(skipped)})" if skipped else ""))
    lines.append(f"  scrapes: {len(render.scrape_problems)} problems")
    lines += [f"      - {problem.message}" for problem in render.scrape_problems]
    rendered = [result for result in render.releases if result.status == "rendered"]
    skipped = [result.release.name for result in render.releases if result.status == "skipped"]
    failed = [result.release.name for result in render.releases if result.status == "failed"]
    parts = [f"{len(rendered)} of {len(render.releases)} releases rendered"]
    if failed:
        parts.append(f"{len(failed)} failed ({', '.join(failed)})")
    if skipped:
        parts.append(f"{len(skipped)} skipped, not checked ({', '.join(skipped)})")
    parts.append(f"{sum(len(result.installed) for result in rendered)} objects")
    parts.append(f"{len(render.problems)} problems")
    lines.append(f"render {render.stack}: {', '.join(parts)}, {seconds:.1f} s -> {_relative(folder)}/")
    return lines


def _release_lines(result: ReleaseResult) -> list[str]:
    release = result.release
    head = f"  {release.name}: {release.chart} {release.version}"
    if result.status == "skipped":
        return [f"{head}: SKIPPED, not checked: {result.reason}"]
    assert result.cached is not None and result.render is not None
    origin = result.cached.describe() + ("" if result.cached.lockable else " (a stand-in for the published package)")
    values_schema = NO_SCHEMA if result.render.schema == "none" else result.render.schema
    if result.status == "failed":
        status = f"NOT RENDERED: {result.reason}"
    else:
        objects = [problem for problem in result.problems if problem.check in ("kubernetes-schema", "crd-schema")]
        status = (f"{len(result.installed)} objects, "
                  f"{'all valid' if not objects else f'{len(objects)} schema problems'}")
    stand_ins = f"; {len(result.stand_ins)} stand-ins" if result.stand_ins else ""
    lines = [f"{head} from {origin}: {status}; values schema {values_schema}{stand_ins}; "
             f"{len(result.problems)} problems"]
    lines += [f"      stand-in: {stand_in.path} = {stand_in.value} ({stand_in.was} in the plan)"
              for stand_in in result.stand_ins]
    lines += [f"      - [{problem.check}] {problem.message}" for problem in result.problems]
    lines += [f"      note: {note}" for note in result.notes]
    return lines
