"""Compare two offline plans resource by resource: what a change to the program, the config or the catalog does.

    python -m infra.offline.plan_compare BEFORE.json AFTER.json [--json OUT]
    python -m infra.offline.plan_compare --base <git ref> --stack <stack> [--preview]     (make plan-compare BASE=main)

Resources are matched by URN. For each resource present in both plans it compares the type, the parent, the
provider, `protect`, the options the engine acts on (ignoreChanges, aliases, additionalSecretOutputs,
deleteBeforeReplace, retainOnDelete), the dependencies as sets, and the inputs field by field (secrets are
already `"[secret]"` in a plan file, so a changed secret does not show). It also compares the stack outputs
and the policy results (violations by policy, resource and level). A field that one of the plans did not
record (a plan written before it was recorded) is not compared, and the report says so.

With `--base`, it plans the git ref in a temporary worktree (with this checkout's virtualenvs: a base whose
dependencies differ is not planned with its own) and the working tree, both as `make plan` does, and compares
the two; the plans are kept in `build/plan-compare/`.

Prints a summary line and the differences, grouped by change; exits 0 when the plans are the same, 1 when
they differ, 2 when a file cannot be read as a plan. The same comparison is a library (`compare_plans`) for
the tests and the reviewer's diff.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from infra.model.stackfiles import REPO_ROOT

EXIT_SAME, EXIT_DIFFERENT, EXIT_UNREADABLE = 0, 1, 2
# Compared as sets: the engine does not care about their order.
SET_FIELDS = ("dependencies",)
SCALAR_FIELDS = ("type", "custom", "parent", "provider", "protect")
NESTED_FIELDS = ("propertyDependencies", "options", "inputs")
ABSENT = "<absent>"


class PlanFileError(Exception):
    """A file that is not an offline plan."""


@dataclass(frozen=True)
class FieldChange:
    """One difference inside a resource: `inputs.versioningConfiguration.status`, `dependencies`, `protect`."""

    path: str
    before: Any
    after: Any


@dataclass(frozen=True)
class ResourceChange:
    urn: str
    type: str
    changes: tuple[FieldChange, ...]


@dataclass
class PlanComparison:
    before: str
    after: str
    unchanged: int = 0
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[ResourceChange] = field(default_factory=list)
    outputs: list[FieldChange] = field(default_factory=list)
    violations_added: list[dict[str, Any]] = field(default_factory=list)
    violations_removed: list[dict[str, Any]] = field(default_factory=list)
    not_compared: list[str] = field(default_factory=list)
    context: list[FieldChange] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not (
            self.added or self.removed or self.changed or self.outputs or self.violations_added
            or self.violations_removed or self.context
        )

    def summary(self) -> str:
        policy = len(self.violations_added) + len(self.violations_removed)
        verdict = "same" if self.identical else "different"
        return (
            f"plan-compare {self.before} -> {self.after}: {verdict}; {self.unchanged} resources unchanged, "
            f"{len(self.added)} added, {len(self.removed)} removed, {len(self.changed)} changed, "
            f"{len(self.outputs)} outputs changed, {policy} policy results changed"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "before": self.before,
            "after": self.after,
            "identical": self.identical,
            "unchanged": self.unchanged,
            "context": [asdict(change) for change in self.context],
            "added": [{"urn": r["urn"], "type": r["type"]} for r in self.added],
            "removed": [{"urn": r["urn"], "type": r["type"]} for r in self.removed],
            "changed": [
                {"urn": c.urn, "type": c.type, "changes": [asdict(change) for change in c.changes]}
                for c in self.changed
            ],
            "outputs": [asdict(change) for change in self.outputs],
            "violationsAdded": self.violations_added,
            "violationsRemoved": self.violations_removed,
            "notCompared": self.not_compared,
        }


def load_plan(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except OSError as error:
        raise PlanFileError(f"{path}: cannot be read ({error.strerror})") from None
    except json.JSONDecodeError as error:
        raise PlanFileError(f"{path}: not JSON ({error.msg}, line {error.lineno})") from None
    if not isinstance(document, dict) or not isinstance(document.get("resources"), list):
        raise PlanFileError(f"{path}: not an offline plan (no `resources` list); write one with `make plan`")
    return document


def compare_plans(
    before: dict[str, Any], after: dict[str, Any], before_name: str = "before", after_name: str = "after"
) -> PlanComparison:
    """Every difference between two plan documents, in a deterministic order."""
    result = PlanComparison(before_name, after_name)
    for key in ("project", "stack", "preview"):
        if before.get(key) != after.get(key):
            result.context.append(FieldChange(key, before.get(key), after.get(key)))
    old = _by_urn(before, before_name)
    new = _by_urn(after, after_name)
    recorded_old = set().union(*(resource.keys() for resource in old.values())) if old else set()
    recorded_new = set().union(*(resource.keys() for resource in new.values())) if new else set()
    compared = SCALAR_FIELDS + SET_FIELDS + NESTED_FIELDS
    result.not_compared = sorted(key for key in compared if (key in recorded_old) != (key in recorded_new))
    for urn in sorted(old.keys() | new.keys()):
        if urn not in new:
            result.removed.append(old[urn])
        elif urn not in old:
            result.added.append(new[urn])
        else:
            changes = tuple(_resource_changes(old[urn], new[urn], set(result.not_compared)))
            if changes:
                result.changed.append(ResourceChange(urn, new[urn].get("type", ""), changes))
            else:
                result.unchanged += 1
    result.outputs = list(_value_changes("", before.get("outputs", {}), after.get("outputs", {})))
    old_violations = _violations(before)
    new_violations = _violations(after)
    result.violations_added = [new_violations[key] for key in sorted(new_violations.keys() - old_violations.keys())]
    result.violations_removed = [old_violations[key] for key in sorted(old_violations.keys() - new_violations.keys())]
    return result


def _by_urn(document: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    resources: dict[str, dict[str, Any]] = {}
    for resource in document["resources"]:
        urn = resource.get("urn")
        if not urn:
            raise PlanFileError(f"{name}: a resource without a `urn`")
        if urn in resources:
            raise PlanFileError(f"{name}: resource {urn} appears twice")
        resources[urn] = resource
    return resources


def _resource_changes(old: dict[str, Any], new: dict[str, Any], skip: set[str]) -> Iterator[FieldChange]:
    for key in SCALAR_FIELDS:
        if key not in skip and old.get(key) != new.get(key):
            yield FieldChange(key, old.get(key), new.get(key))
    for key in SET_FIELDS:
        if key in skip:
            continue
        gone = sorted(set(old.get(key, [])) - set(new.get(key, [])))
        came = sorted(set(new.get(key, [])) - set(old.get(key, [])))
        if gone or came:
            yield FieldChange(key, gone, came)
    for key in NESTED_FIELDS:
        if key not in skip:
            yield from _value_changes(key, old.get(key, {}), new.get(key, {}))


def _value_changes(path: str, old: Any, new: Any) -> Iterator[FieldChange]:
    """Leaf-level differences between two wire-form values, with dotted paths (`inputs.rules.0.status`)."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(old.keys() | new.keys()):
            child = f"{path}.{key}" if path else str(key)
            yield from _value_changes(child, old.get(key, ABSENT), new.get(key, ABSENT))
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (old_item, new_item) in enumerate(zip(old, new, strict=True)):
            yield from _value_changes(f"{path}.{index}", old_item, new_item)
    elif old != new:
        yield FieldChange(path, old, new)


def _violations(document: dict[str, Any]) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    entries = (document.get("policies") or {}).get("violations") or []
    return {
        (entry.get("policy", ""), entry.get("urn", ""), entry.get("level", ""), entry.get("message", "")): entry
        for entry in entries
    }


def render_text(comparison: PlanComparison, limit: int = 40) -> list[str]:
    """The report a person reads: the summary line first, then each difference."""
    lines = [comparison.summary()]
    for change in comparison.context:
        lines.append(f"  ! {change.path}: {_show(change.before)} -> {_show(change.after)}")
    if comparison.not_compared:
        lines.append(f"  not compared (recorded by one plan only): {', '.join(comparison.not_compared)}")
    for resource in comparison.removed:
        lines.append(f"  - {resource['urn']}")
    for resource in comparison.added:
        lines.append(f"  + {resource['urn']}")
    for resource_change in comparison.changed:
        lines.append(f"  ~ {resource_change.urn}")
        shown = resource_change.changes[:limit]
        for change in shown:
            lines.append(f"      {change.path}: {_show(change.before)} -> {_show(change.after)}")
        if len(resource_change.changes) > limit:
            lines.append(f"      ... {len(resource_change.changes) - limit} more")
    for change in comparison.outputs:
        lines.append(f"  ~ output {change.path}: {_show(change.before)} -> {_show(change.after)}")
    for verdict, violations in (("passes", comparison.violations_removed), ("fails", comparison.violations_added)):
        for violation in violations:
            lines.append(
                f"  policy {verdict} now: [{violation.get('level')}] {violation.get('policy')} {violation.get('urn')}"
            )
    return lines


def _show(value: Any, width: int = 100) -> str:
    text = value if value == ABSENT else json.dumps(value, sort_keys=True)
    return text if len(text) <= width else text[: width - 3] + "..."


# Links a base worktree needs to plan as this checkout does: the pack's virtualenv is looked up beside the pack.
SHARED_VENVS = ("policies/venv",)


def plan_tree(tree: Path, stack: str, out: Path, preview: bool) -> Path:
    """Plan `stack` from the checkout at `tree` into `out`; the plan file's path (exit 0 or 1 are both plans)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    # A base from before the offline tooling had its own package plans with the module it had then.
    module = "infra.offline.plan" if (tree / "infra" / "offline" / "plan.py").exists() else "infra.plan"
    command = [sys.executable, "-m", module, "--stack", stack, "--out", str(out), "--quiet"]
    if preview:
        command.append("--preview")
    result = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, check=False)
    if result.returncode not in (0, 1):
        raise PlanFileError(f"planning {stack} in {tree} failed (exit {result.returncode}):\n{result.stderr.strip()}")
    return out / (f"{stack}-preview.json" if preview else f"{stack}.json")


def plan_base(ref: str, stack: str, out: Path, preview: bool) -> Path:
    """Plan `stack` at git ref `ref`, in a temporary worktree removed afterwards."""
    worktree = Path(tempfile.mkdtemp(prefix="plan-base-"))
    added = subprocess.run(
        ["git", "worktree", "add", "--detach", "--quiet", str(worktree), ref],
        cwd=REPO_ROOT, capture_output=True, text=True, check=False,
    )
    if added.returncode != 0:
        shutil.rmtree(worktree, ignore_errors=True)
        raise PlanFileError(f"git ref {ref!r} cannot be checked out: {added.stderr.strip()}")
    try:
        for link in SHARED_VENVS:
            target = REPO_ROOT / link
            if target.exists() and not (worktree / link).exists():
                (worktree / link).symlink_to(target)
        return plan_tree(worktree, stack, out, preview)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=REPO_ROOT, check=False)
        shutil.rmtree(worktree, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make plan-compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path, nargs="?", help="plan file of the base (build/plan/<stack>.json)")
    parser.add_argument("after", type=Path, nargs="?", help="plan file of the change")
    parser.add_argument("--base", help="git ref to plan and compare the working tree with (instead of two files)")
    parser.add_argument("--stack", help="stack to plan with --base")
    parser.add_argument("--preview", action="store_true", help="with --base: plan with preview semantics")
    parser.add_argument("--json", type=Path, help="also write the comparison as JSON to this file")
    args = parser.parse_args(argv)
    if bool(args.base) == bool(args.before and args.after) or (args.base and not args.stack):
        parser.error("give two plan files, or --base <ref> with --stack <stack>")
    try:
        if args.base:
            out = REPO_ROOT / "build" / "plan-compare"
            before = plan_base(args.base, args.stack, out / "base", args.preview)
            after = plan_tree(REPO_ROOT, args.stack, out / "work", args.preview)
        else:
            before, after = args.before, args.after
        comparison = compare_plans(load_plan(before), load_plan(after), str(before), str(after))
    except PlanFileError as error:
        print(f"plan-compare: {error}", file=sys.stderr)
        return EXIT_UNREADABLE
    print("\n".join(render_text(comparison)))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(comparison.to_dict(), indent=2, sort_keys=True) + "\n")
    return EXIT_SAME if comparison.identical else EXIT_DIFFERENT


if __name__ == "__main__":
    sys.exit(main())
