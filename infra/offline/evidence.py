"""Evidence for auditors: what the policy pack judged on one stack, resource by resource, on one evaluation date.

    python -m infra.offline.evidence --stack prod [--date YYYY-MM-DD] [--preview] [--out build/evidence]
    make evidence STACK=prod [DATE=YYYY-MM-DD]

Runs the program under mocks as `make plan` does, runs the pack over it through the gate with the stack's
`policies/config/<stack>.json` on the evaluation date (default today, UTC), and writes `<out>/<stack>.json`,
`<stack>.md` and `<stack>.html` (one self-contained page: no script, no external asset, every value escaped) with:

- the pack's name, version and content hash (SHA-256 over each file the pack ships, `config/` and its virtualenv
  aside: see `pack_digest`), and the enforcement config: the file's SHA-256, each policy's level and its settings
  (the chart facts `make policy-config` writes are summarised by chart name);
- every policy's result for every resource it judged: `pass`, `fail` (with the message), `exempt` (with the
  allow-list's reason and expiry) or `skipped` (a value it needed was unknown); a disabled policy judged nothing.
  Which resources a policy judged: for a resource policy, every resource it did not report as not applicable
  through the analyzer protocol (the pack reports a resource whose inputs the policy never read); for a stack
  policy, the resources whose inputs it read, measured by running the pack's stack policies over the same
  resources in the pack's own interpreter (infra/offline/gate/probe.py), plus any it reported on;
- every exemption and every exception of the allow-list, with reason, expiry and status on the evaluation date;
- the controls grouped by the platform's principles, each policy with the CIS benchmark controls it matches
  (infra/offline/evidence_controls.py; ids from cis_benchmarks.json, whose source is cited there and in the report).

The same program, config, pack and date give byte-identical files (nothing timed, everything sorted). One summary
line goes to stdout. Exit codes: 0 no mandatory violation, 1 a mandatory violation (the report is still written),
2 bad input (a config or catalog error, a malformed date), 3 the policy gate could not run.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import hashlib
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from infra.model.config import PROJECT, project_values
from infra.model.errors import ConfigError
from infra.model.inputs import validate_inputs
from infra.model.stackfiles import REPO_ROOT, load_stack
from infra.offline.evidence_controls import PRINCIPLES, benchmarks, cis_of, principles_of
from infra.offline.evidence_render import render_html, render_markdown
from infra.offline.gate import PACK_DIR, GateError, GateReport, config_path, run_gate
from infra.offline.gate.probe import stack_policy_reads
from infra.offline.gate.wire import wire
from infra.offline.harness import Recording, run_program

EXIT_CLEAN, EXIT_MANDATORY, EXIT_CONFIG, EXIT_GATE = 0, 1, 2, 3
STATUSES = ("pass", "fail", "exempt", "skipped")
EXEMPT_PREFIX = "exempt: "  # the reason the pack gives the engine for a resource it exempts (policies/common.py)
RELEASE = "kubernetes:helm.sh/v3:Release"
STACK_ROW = "(stack)"


def pack_files(pack_dir: Path = PACK_DIR) -> list[Path]:
    """What the pack ships, in a stable order: every file of its folder but its virtualenv, bytecode and the
    per-stack config (reported on its own)."""
    found = []
    for path in sorted(pack_dir.rglob("*")):
        relative = path.relative_to(pack_dir)
        if not path.is_file() or relative.parts[0] in ("venv", "config") or "__pycache__" in relative.parts:
            continue
        if path.suffix == ".pyc":
            continue
        found.append(path)
    return found


def pack_digest(pack_dir: Path = PACK_DIR) -> tuple[str, int]:
    """SHA-256 over `<relative path>\\0<SHA-256 of the file>\\n` for each file of `pack_files`, and their count."""
    digest = hashlib.sha256()
    files = pack_files(pack_dir)
    for path in files:
        digest.update(f"{path.relative_to(pack_dir).as_posix()}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\n"
                      .encode())
    return digest.hexdigest(), len(files)


def resource_key(urn: str) -> str:
    """`<type>::<name>`, the end of a URN: how the allow-list names a resource (policies/exemptions.py)."""
    parts = urn.split("::", 3)
    return f"{parts[2].rsplit('$', 1)[-1]}::{parts[3]}" if len(parts) == 4 else urn


def stack_resources(recording: Recording) -> list[dict[str, Any]]:
    """The resources as the gate sends them to stack policies (infra/offline/gate/wire.py `stack_resource`)."""
    return [{
        "type": resource.type, "urn": resource.urn, "name": resource.name, "protect": resource.protect,
        "parent": resource.parent,
        "inputs": wire(resource.inputs if recording.preview or not resource.outputs else resource.outputs),
        "dependencies": list(resource.dependencies),
        "propertyDependencies": {key: list(urns) for key, urns in resource.property_dependencies.items() if urns},
    } for resource in recording.resources]


def results(recording: Recording, report: GateReport, reads: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """Policy -> urn -> {status, details}: what each policy concluded about each resource it judged."""
    parents = {resource.urn: resource.parent for resource in recording.resources}
    every = [resource.urn for resource in recording.resources]
    honoured: dict[str, dict[str, dict[str, Any]]] = {}
    for entry in report.exemptions:
        if entry["status"] != "refused":
            honoured.setdefault(entry["policy"], {})[entry["resource"]] = entry
    found: dict[str, dict[str, Any]] = {}
    for name, info in report.policies.items():
        if report.levels.get(name) == "disabled":
            found[name] = {}
            continue
        rows: dict[str, dict[str, Any]] = {}
        if info.kind == "resource":
            skipped_here = {urn: reason for policy, urn, reason in report.not_applicable if policy == name}
            for urn in every:
                reason = skipped_here.get(urn)
                if reason is None:
                    rows[urn] = {"status": "pass", "details": []}
                elif reason.startswith(EXEMPT_PREFIX):
                    rows[urn] = {"status": "exempt", "details": [reason[len(EXEMPT_PREFIX):]]}
            # An exemption narrowed to named checks: the policy judged the resource on its other checks; it is
            # exempt where those pass (a failure of another check is reported as a fail below).
            narrowed = {key: entry for key, entry in honoured.get(name, {}).items() if entry.get("checks")}
            for urn in every:
                parent = parents.get(urn) or ""
                entry = narrowed.get(resource_key(urn)) or (
                    narrowed.get(resource_key(parent)) if resource_key(parent).startswith(f"{RELEASE}::") else None)
                if entry and rows.get(urn, {}).get("status") == "pass":
                    rows[urn] = {"status": "exempt", "details": [
                        f"{entry['reason']} (until {entry['expires']}; checks {', '.join(entry['checks'])} only, "
                        "the policy's other checks pass)"]}
        else:
            exempt = honoured.get(name, {})
            for urn in reads.get(name, []):
                parent = parents.get(urn) or ""
                entry = exempt.get(resource_key(urn)) or (
                    exempt.get(resource_key(parent)) if resource_key(parent).startswith(f"{RELEASE}::") else None)
                rows[urn] = ({"status": "exempt", "details": [f"{entry['reason']} (until {entry['expires']})"]}
                             if entry else {"status": "pass", "details": []})
        for violation in report.violations:
            if violation["policy"] != name:
                continue
            urn = violation["urn"] or STACK_ROW
            skipped = violation["message"].startswith("not evaluated: ")
            if skipped and not violation["urn"] and info.kind == "stack":
                for row in rows.values():
                    row.update(status="skipped", details=[violation["message"]])
                rows.setdefault(STACK_ROW, {"status": "skipped", "details": [violation["message"]]})
                continue
            row = rows.setdefault(urn, {"status": "pass", "details": []})
            if row["status"] != "fail":
                row.update(status="skipped" if skipped else "fail", details=[])
            row["details"].append(violation["message"])
        found[name] = {urn: {**row, "details": sorted(row["details"])} for urn, row in sorted(rows.items())}
    return found


def shown_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """A policy's settings for the report: chart facts by chart name; the allow-list, its copies and the date left
    out (the report lists them on their own)."""
    shown = {}
    for key, value in sorted(settings.items()):
        if key in ("evaluationDate", "exemptions", "exceptions"):
            continue
        shown[key] = sorted(value) if key == "charts" and isinstance(value, dict) else value
    return shown


def build(recording: Recording, report: GateReport, config_file: Path, reads: dict[str, list[str]],
          pack_dir: Path = PACK_DIR) -> dict[str, Any]:
    """The evidence as data; every list sorted, nothing timed."""
    known = benchmarks()
    names = {resource.urn: (resource.type, resource.name) for resource in recording.resources}
    by_policy = results(recording, report, reads)
    content, files = pack_digest(pack_dir)
    policies = []
    totals: Counter[str] = Counter()
    for name, info in report.policies.items():
        level = report.levels.get(name, info.level)
        rows = by_policy.get(name, {})
        counts = Counter(row["status"] for row in rows.values())
        totals.update(counts)
        policies.append({
            "id": name, "code": info.code, "title": info.description, "kind": info.kind, "severity": info.severity,
            "tags": list(info.tags), "level": level, "principles": principles_of(info.tags),
            "cis": cis_of(name, known),
            "counts": {status: counts.get(status, 0) for status in STATUSES},
            "results": [{"urn": urn, "type": names.get(urn, ("", ""))[0], "name": names.get(urn, ("", urn))[1],
                         "status": row["status"], "details": row["details"]} for urn, row in rows.items()],
        })
    principles = [{
        "id": principle, "title": title,
        "policies": [policy["id"] for policy in policies if principle in policy["principles"]],
    } for principle, (title, _) in PRINCIPLES.items()]
    mandatory = sorted({(v["policy"], v["urn"]) for v in report.mandatory})
    config_text = config_file.read_bytes()
    return {
        "stack": report.stack,
        "project": recording.project,
        "semantics": "preview" if recording.preview else "update",
        "evaluationDate": report.evaluation_date,
        "pack": {"name": report.pack, "version": report.version, "contentSha256": content, "files": files},
        "config": {
            "file": f"policies/config/{config_file.name}",
            "sha256": hashlib.sha256(config_text).hexdigest(),
            "levels": dict(sorted(report.levels.items())),
            "settings": {name: shown_settings(settings) for name, settings in sorted(report.settings.items())
                         if shown_settings(settings)},
        },
        "summary": {
            "resources": len(recording.resources),
            "policies": len(policies),
            "disabled": sum(policy["level"] == "disabled" for policy in policies),
            **{status: totals.get(status, 0) for status in STATUSES},
            "mandatoryViolations": len(mandatory),
            "exemptions": len(report.exemptions),
            "exceptions": len(report.exceptions),
            "expiring": sum(entry["status"] == "expiring" for entry in [*report.exemptions, *report.exceptions]),
            "refused": sum(entry["status"] == "refused" for entry in [*report.exemptions, *report.exceptions]),
        },
        "principles": principles,
        "exemptions": report.exemptions,
        "exceptions": report.exceptions,
        "cisSources": [{"benchmark": benchmark["name"], "source": benchmark["source"]}
                       for _, benchmark in sorted(known.items())],
        "policies": policies,
    }


def summary_line(document: dict[str, Any], out: Path) -> str:
    summary = document["summary"]
    base = out / document["stack"]
    return (f"evidence {document['stack']}: {summary['policies']} policies ({summary['disabled']} disabled) over "
            f"{summary['resources']} resources on {document['evaluationDate']}: {summary['pass']} pass, "
            f"{summary['fail']} fail ({summary['mandatoryViolations']} mandatory), {summary['exempt']} exempt, "
            f"{summary['skipped']} skipped; {summary['exemptions']} exemption(s), {summary['exceptions']} "
            f"exception(s), {summary['expiring']} expiring, {summary['refused']} refused -> {base}.{{md,json,html}}")


def run(stack: str, out: Path, on: datetime.date, preview: bool = False, root: Path = REPO_ROOT,
        pack_dir: Path = PACK_DIR) -> int:
    base = out / stack
    for suffix in (".json", ".md", ".html"):
        base.with_suffix(suffix).unlink(missing_ok=True)
    try:
        settings = load_stack(stack, root)
        validate_inputs(project_values(settings.config, PROJECT), stack, secret_keys=settings.secret_keys,
                        secret_paths=settings.secret_paths)
    except ConfigError as error:
        print(f"evidence {stack}: configuration error\n{error}", file=sys.stderr)
        return EXIT_CONFIG
    from infra.program import main

    try:
        recording = run_program(main, settings, preview=preview)
        config_file = config_path(stack, pack_dir)
        report = run_gate(recording, stack, config_file=config_file, pack_dir=pack_dir, evaluation_date=on)
        stack_config = {name: report.settings[name] for name, info in report.policies.items()
                        if info.kind == "stack" and report.levels.get(name) != "disabled"}
        reads = stack_policy_reads(pack_dir, stack_resources(recording), stack_config)
    except GateError as error:
        print(f"evidence {stack}: the policy gate could not run\n{error}", file=sys.stderr)
        return EXIT_GATE
    document = build(recording, report, config_file, reads, pack_dir)
    out.mkdir(parents=True, exist_ok=True)
    base.with_suffix(".json").write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    base.with_suffix(".md").write_text(render_markdown(document))
    base.with_suffix(".html").write_text(render_html(document))
    print(summary_line(document, out))
    return EXIT_MANDATORY if report.mandatory else EXIT_CLEAN


def evaluation_date_arg(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; give YYYY-MM-DD") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make evidence", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True, help="stack name: Pulumi.<stack>.yaml must exist")
    parser.add_argument("--date", type=evaluation_date_arg, default=None,
                        help="the evaluation date (YYYY-MM-DD; default today, UTC)")
    parser.add_argument("--preview", action="store_true", help="computed outputs unknown, as in `pulumi preview`")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "evidence", help="output folder")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="folder holding Pulumi.yaml and stack files")
    args = parser.parse_args(argv)
    on = args.date or datetime.datetime.now(datetime.UTC).date()
    return run(args.stack, args.out, on, args.preview, args.root)


if __name__ == "__main__":
    gc.disable()  # one short process whose objects all live until it exits (as infra/offline/plan.py)
    code = main()
    sys.stdout.flush()
    os._exit(code)
