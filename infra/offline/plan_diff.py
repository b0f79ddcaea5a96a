"""The reviewer's plan diff: what a change does to each stack, weakened enforcement first.

    python -m infra.offline.plan_diff --base <git ref> [--stack dev --stack prod] [--out build/plan-diff]
    make plan-diff BASE=<git ref> [STACK=<stack>]          (both stacks unless STACK is given)

Plans the base ref in a temporary git worktree with the base's own locked dependencies and the working tree
with this checkout's, then reports, on the plan comparison (infra/offline/plan_compare.py):

1. **weakened enforcement**, at the top: a policy whose level in the stack's pack config goes down
   (mandatory -> advisory or disabled), a policy the pack no longer has, an exemption or exception added or
   extended to a later expiry (the allow-list of the pack config, `pack-exemption-require-allow-list`; the
   copies `make policy-config` writes into each policy are not reported twice), a minimum lowered, a list of
   checked items shortened; a resource's own claim to an exemption (a `dataplatform:policy-exemptions` tag or
   `dataplatform/policy-exemptions` annotation in the plan's inputs) is listed too, as what it is: a claim that
   counts only when the allow-list gives it;
2. the other enforcement changes (strengthened, or settings whose direction is not known);
3. resources added, removed, replaced and changed, grouped by layer (the platform component each belongs to),
   with every input that changed (secrets stay `[secret]`); replacement is approximated
   (infra/offline/plan_diff_engine.py says how, and how sure each reason is);
4. policy results that changed (a violation that appears or goes);
5. the rendered objects that changed, when the chart cache holds the releases' charts (each changed release is
   rendered on both sides and compared by kind, namespace and name).

Writes `<out>/<stack>.md` and `<out>/<stack>.json` per stack, `<out>/comment.md` (every stack, for the pull
request comment) and `<out>/summary.json`, and prints one line per stack. The same inputs give the same bytes.

The base's virtualenvs: when its `requirements.txt` and `constraints.txt` (the program) or
`policies/requirements.txt` (the pack) hash as this checkout's, this checkout's virtualenv plans it;
otherwise one is built from the base's lock files once and kept under
`~/.cache/dataplatform/plan-diff/venvs/<hash>` (`DATAPLATFORM_PLAN_DIFF_CACHE` moves it).

Exit codes: 0 no difference in any stack, 1 differences, 2 bad input (an unknown git ref, an unknown stack,
not a git checkout), 3 a plan or the policy pack could not run on either side (the report says which).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.model.stackfiles import REPO_ROOT
from infra.offline.plan_compare import ABSENT, PlanComparison, PlanFileError, _value_changes, compare_plans, load_plan
from infra.offline.plan_diff_engine import CERTAIN, replacement
from infra.offline.render.cache import default_cache, user_cache

EXIT_SAME, EXIT_DIFFERENT, EXIT_INPUT, EXIT_PLAN = 0, 1, 2, 3
DEFAULT_STACKS = ("dev", "prod")
CACHE_ENV = "DATAPLATFORM_PLAN_DIFF_CACHE"
PROGRAM_LOCKS = ("requirements.txt", "constraints.txt")
PACK_LOCKS = ("policies/requirements.txt",)
CLAIM_KEYS = ("dataplatform:policy-exemptions", "dataplatform/policy-exemptions")
ALLOW_LIST = "pack-exemption-require-allow-list"
LEVEL_RANK = {"disabled": 0, "advisory": 1, "mandatory": 2, "remediate": 2}
COMMENT_MARKER = "<!-- dataplatform-plan-diff -->"
# GitHub refuses a comment over 65,536 characters; the comment keeps room for the commenter's own lines.
COMMENT_LIMIT = 60_000
LIMIT_PER_RESOURCE = 40


class InputError(Exception):
    """Bad input: exit 2."""


class PlanRunError(Exception):
    """A plan or the pack could not run: exit 3."""


# ---- virtualenvs --------------------------------------------------------------------------------------------


def lock_hash(tree: Path, files: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    for name in files:
        path = tree / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"<absent>") + b"\0")
    return digest.hexdigest()[:16]


def cache_root() -> Path:
    return user_cache("plan-diff", CACHE_ENV)


@dataclass(frozen=True)
class Interpreter:
    python: Path
    origin: str
    """`this checkout's` or `cached <hash>` / `built <hash>`: how the base's virtualenv was chosen."""


def base_venv(base: Path, head: Path, files: tuple[str, ...], own: Path, kind: str,
              install: list[str]) -> Interpreter:
    """The virtualenv that plans the base: `own` (this checkout's) when the lock files hash the same, else one
    built from the base's lock files under the cache (`install` are pip's arguments, relative to the base)."""
    wanted = lock_hash(base, files)
    if wanted == lock_hash(head, files):
        return Interpreter(own, "this checkout's")
    directory = cache_root() / "venvs" / f"{kind}-{wanted}"
    python = directory / "bin" / "python"
    stamp = directory / ".complete"
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / f"{kind}-{wanted}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.is_file():
            return Interpreter(python, f"cached {kind}-{wanted}")
        shutil.rmtree(directory, ignore_errors=True)
        print(f"plan-diff: the base's {kind} lock files differ from this checkout's: building its virtualenv "
              f"{directory} (once)", file=sys.stderr)
        steps = ([sys.executable, "-m", "venv", str(directory)],
                 [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *install])
        for step in steps:
            done = subprocess.run(step, cwd=base, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                shutil.rmtree(directory, ignore_errors=True)
                raise PlanRunError(f"building the base's {kind} virtualenv failed ({' '.join(step[:4])} ...):\n"
                                   f"{(done.stderr or done.stdout).strip()[-2000:]}")
        stamp.write_text(" ".join(files) + "\n")
    return Interpreter(python, f"built {kind}-{wanted}")


# ---- the base checkout --------------------------------------------------------------------------------------


def resolve(root: Path, ref: str) -> str:
    inside = subprocess.run(["git", "rev-parse", "--git-dir"], cwd=root, capture_output=True, text=True, check=False)
    if inside.returncode != 0:
        raise InputError(f"{root} is not a git checkout: the plan diff plans a git ref")
    found = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=root,
                           capture_output=True, text=True, check=False)
    if found.returncode != 0 or not found.stdout.strip():
        raise InputError(f"git ref {ref!r} is not a commit here; fetch it first (git fetch origin <ref>) or name "
                         "a branch, tag or commit")
    return found.stdout.strip()


@contextlib.contextmanager
def checkout(root: Path, commit: str) -> Iterator[Path]:
    worktree = Path(tempfile.mkdtemp(prefix="plan-diff-base-"))
    added = subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(worktree), commit], cwd=root,
                           capture_output=True, text=True, check=False)
    if added.returncode != 0:
        shutil.rmtree(worktree, ignore_errors=True)
        raise InputError(f"git commit {commit} cannot be checked out: {added.stderr.strip()}")
    try:
        yield worktree
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=root, capture_output=True,
                       check=False)
        shutil.rmtree(worktree, ignore_errors=True)


@dataclass
class Side:
    name: str
    tree: Path
    python: Path
    pack_python: Path


def start_plan(side: Side, stack: str, out: Path) -> subprocess.Popen:
    module = "infra.offline.plan" if (side.tree / "infra" / "offline" / "plan.py").exists() else "infra.plan"
    env = {**os.environ, "PYTHONPATH": str(side.tree)}
    return subprocess.Popen([str(side.python), "-m", module, "--stack", stack, "--out", str(out), "--quiet"],
                            cwd=side.tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# ---- enforcement ---------------------------------------------------------------------------------------------


@dataclass
class Enforcement:
    """A pack's policies with their effective level and settings for one stack."""

    levels: dict[str, str] = field(default_factory=dict)
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None


def pack_policies(side: Side, project: str) -> dict[str, Any]:
    """The policies the pack of `side` declares, read from the running pack as the engine reads them."""
    from infra.offline.gate import GateError
    from infra.offline.gate.process import PolicyPackProcess

    try:
        with PolicyPackProcess(project, "plan-diff", False, pack_dir=side.tree / "policies",
                               python=side.pack_python) as pack:
            return dict(pack.policies)
    except GateError as error:
        raise PlanRunError(f"the policy pack of the {side.name} could not run: {error}") from None


def enforcement(side: Side, policies: Mapping[str, Any], stack: str) -> Enforcement:
    from infra.offline.gate import GateError
    from infra.offline.gate.settings import config_path, load_config_file, reconcile

    path = config_path(stack, side.tree / "policies")
    try:
        given = load_config_file(path)
        effective = reconcile(policies.values(), given, f"{side.name} policies/config/{stack}.json")
    except GateError as error:
        return Enforcement(error=str(error))
    return Enforcement({name: level for name, (level, _) in effective.items()},
                       {name: settings for name, (_, settings) in effective.items()})


def claims(document: dict[str, Any]) -> dict[tuple[str, str, str], str]:
    """(urn, where, policy) -> resource name for every exemption a resource claims in the plan's inputs."""
    found: dict[tuple[str, str, str], str] = {}

    def walk(urn: str, name: str, value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key in CLAIM_KEYS:
                listed = value.get(key)
                if isinstance(listed, str):
                    for policy in sorted(set(listed.replace(",", " ").split())):
                        found[(urn, f"{path}.{key}".lstrip("."), policy)] = name
            for key, item in value.items():
                walk(urn, name, item, f"{path}.{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(urn, name, item, f"{path}.{index}")

    for resource in document["resources"]:
        walk(resource["urn"], resource.get("name", ""), resource.get("inputs") or {}, "inputs")
    return found


def _listed(settings: Mapping[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(kind, policy, resource) -> entry for every exemption and exception of an allow-list's settings."""
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for kind, key in (("exemption", "exemptions"), ("exception", "exceptions")):
        for entry in settings.get(key) or []:
            if isinstance(entry, dict):
                found[(kind, str(entry.get("policy", "")), str(entry.get("resource", "")))] = entry
    return found


def _checks(entry: Mapping[str, Any]) -> frozenset[str] | None:
    """The named checks an exemption covers; None: the whole policy."""
    given = entry.get("checks")
    return frozenset(str(check) for check in given) if isinstance(given, list) and given else None


def allow_list_changes(old: Enforcement, new: Enforcement, config: str,
                       exemptable: Mapping[str, bool]) -> list[dict[str, Any]]:
    """Every exemption and exception added, removed, extended, shortened, widened or narrowed (its named checks) or
    re-worded in the allow-list."""
    before, after = _listed(old.settings.get(ALLOW_LIST, {})), _listed(new.settings.get(ALLOW_LIST, {}))
    changes = []
    for key in sorted(before.keys() | after.keys()):
        kind, policy, resource = key
        was, now = before.get(key), after.get(key)
        target = f"`{policy}` on `{resource}`" if kind == "exemption" else f"`{resource}`"
        honoured = kind == "exception" or exemptable.get(policy, True)
        note = "" if honoured else " (refused by the pack: the policy cannot be exempted)"
        change = {"policy": policy, "urn": resource, "before": was, "after": now}
        if was is None:
            assert now is not None
            changes.append({**change, "kind": f"{kind}-added", "weakens": honoured,
                            "text": f"{kind} added for {target} until {now.get('expires')}: "
                                    f"\"{now.get('reason', '')}\"{note} ({config})"})
        elif now is None:
            changes.append({**change, "kind": f"{kind}-removed", "weakens": False,
                            "text": f"{kind} for {target} removed ({config})"})
        elif str(now.get("expires", "")) != str(was.get("expires", "")):
            later = str(now.get("expires", "")) > str(was.get("expires", ""))
            changes.append({**change, "kind": f"{kind}-{'extended' if later else 'shortened'}",
                            "weakens": later and honoured,
                            "text": f"{kind} for {target} {'extended' if later else 'shortened'}: expires "
                                    f"{was.get('expires')} -> {now.get('expires')}{note} ({config})"})
        elif _checks(now) != _checks(was):
            wider = _checks(now) is None or (_checks(was) is not None and not _checks(now) <= _checks(was))
            shown = {side: "all checks" if found is None else ", ".join(sorted(found))
                     for side, found in (("was", _checks(was)), ("now", _checks(now)))}
            changes.append({**change, "kind": f"{kind}-{'widened' if wider else 'narrowed'}",
                            "weakens": wider and honoured,
                            "text": f"{kind} for {target} {'widened' if wider else 'narrowed'}: {shown['was']} -> "
                                    f"{shown['now']}{note} ({config})"})
        elif now != was:
            changes.append({**change, "kind": f"{kind}-reason", "weakens": False,
                            "text": f"{kind} for {target}: reason \"{was.get('reason', '')}\" -> "
                                    f"\"{now.get('reason', '')}\" ({config})"})
    return changes


def enforcement_changes(stack: str, old: Enforcement, new: Enforcement, base_doc: dict[str, Any],
                        head_doc: dict[str, Any], exemptable: Mapping[str, bool]) -> list[dict[str, Any]]:
    """Every change of what the pack enforces on `stack`; `weakens` marks those that enforce less."""
    changes: list[dict[str, Any]] = []
    config = f"policies/config/{stack}.json"
    for side, state in (("base", old), ("head", new)):
        if state.error:
            changes.append({"kind": "config-unreadable", "weakens": side == "head", "policy": "",
                            "text": f"the {side}'s {config} cannot be read, so its enforcement is unknown: "
                                    f"{state.error}"})
    if old.error or new.error:
        return changes
    for policy in sorted(old.levels.keys() | new.levels.keys()):
        before, after = old.levels.get(policy), new.levels.get(policy)
        if after is None:
            changes.append({"kind": "policy-removed", "weakens": before != "disabled", "policy": policy,
                            "before": before, "after": None,
                            "text": f"`{policy}` is no longer in the pack (it was {before})"})
            continue
        if before is None:
            changes.append({"kind": "policy-added", "weakens": False, "policy": policy, "before": None,
                            "after": after, "text": f"`{policy}` is new in the pack, {after}"})
        elif before != after:
            weaker = LEVEL_RANK[after] < LEVEL_RANK[before]
            changes.append({"kind": "level", "weakens": weaker, "policy": policy, "before": before, "after": after,
                            "text": f"`{policy}`: {before} -> {after} ({config})"})
        if before is not None:
            # The allow-list and its copies in each policy are reported once, as exemptions and exceptions.
            own = {"exemptions", "exceptions", "evaluationDate"}
            changes += _setting_changes(
                policy, {key: value for key, value in old.settings.get(policy, {}).items() if key not in own},
                {key: value for key, value in new.settings.get(policy, {}).items() if key not in own}, config)
    changes += allow_list_changes(old, new, config, exemptable)
    old_claims, new_claims = claims(base_doc), claims(head_doc)
    for key in sorted(old_claims.keys() | new_claims.keys()):
        urn, where, policy = key
        if key in new_claims and key not in old_claims:
            changes.append({"kind": "exemption-claim", "weakens": False, "policy": policy, "urn": urn,
                            "where": where, "before": None, "after": policy,
                            "text": f"`{new_claims[key]}` claims an exemption from `{policy}` ({where}); it counts "
                                    f"only where {config} lists it"})
        elif key in old_claims and key not in new_claims:
            changes.append({"kind": "exemption-claim-removed", "weakens": False, "policy": policy, "urn": urn,
                            "where": where, "before": policy, "after": None,
                            "text": f"`{old_claims[key]}` no longer claims an exemption from `{policy}` ({where})"})
    return changes


def _setting_changes(policy: str, old: Any, new: Any, config: str) -> list[dict[str, Any]]:
    changes = []
    for change in _value_changes("", old, new):
        path, before, after = change.path, change.before, change.after
        parts = path.split(".")
        kind, weakens = "setting", None
        if parts[-1].lower().startswith("min") and _numbers(before, after):
            weakens = after < before
            kind = "minimum"
        elif isinstance(before, list) and isinstance(after, list):
            dropped = [item for item in before if item not in after]
            weakens = bool(dropped) or None
            kind = "list"
        elif before == ABSENT or after == ABSENT:
            kind = "setting-added" if before == ABSENT else "setting-removed"
        label = f"`{policy}`.{path}" if path else f"`{policy}`"
        text = f"{label}: {_short(before)} -> {_short(after)} ({config})"
        if kind == "list":
            dropped = [item for item in before if item not in after]
            added = [item for item in after if item not in before]
            text = f"{label} ({config})" + (f" no longer lists {_short(dropped)}" if dropped else "") + (
                f"{';' if dropped else ''} now also lists {_short(added)}" if added else "")
        changes.append({"kind": kind, "weakens": bool(weakens), "unclassified": weakens is None, "policy": policy,
                        "path": path, "before": before, "after": after, "text": text})
    return changes


def _numbers(*values: Any) -> bool:
    return all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in values)


def _short(value: Any, width: int = 120) -> str:
    text = value if value == ABSENT else json.dumps(value, sort_keys=True)
    return text if len(text) <= width else text[: width - 3] + "..."


# ---- value differences -------------------------------------------------------------------------------------------


def value_changes(path: str, old: Any, new: Any) -> list[dict[str, Any]]:
    """The plan comparison's leaf differences, made readable: a list whose length changed shows the items that
    went (`path.-`) and came (`path.+`), and a base64 ZIP archive (a Superset asset bundle) its members."""
    changes: list[dict[str, Any]] = []
    for change in _value_changes(path, old, new):
        before, after = change.before, change.after
        if isinstance(before, list) and isinstance(after, list):
            gone, came = _surplus(before, after), _surplus(after, before)
            changes += [{"path": f"{change.path}.-", "before": item, "after": ABSENT} for item in gone]
            changes += [{"path": f"{change.path}.+", "before": ABSENT, "after": item} for item in came]
            if gone or came:
                continue
        members = _zip_changes(before, after)
        if members is not None:
            changes += [{"path": f"{change.path}:{name}", "before": was, "after": now} for name, was, now in members]
            continue
        changes.append({"path": change.path, "before": before, "after": after})
    return changes


def _surplus(items: list[Any], other: list[Any]) -> list[Any]:
    """The items of `items` that `other` lacks, counted as a multiset (a repeated item counts each time)."""
    left = Counter(json.dumps(item, sort_keys=True) for item in other)
    found = []
    for item in items:
        key = json.dumps(item, sort_keys=True)
        if left[key]:
            left[key] -= 1
        else:
            found.append(item)
    return found


def _zip_changes(before: Any, after: Any) -> list[tuple[str, str, str]] | None:
    """(member, before, after) for each member of two base64 ZIP archives that differs; None if they are not."""
    import base64
    import binascii
    import io
    import zipfile

    def members(value: Any) -> dict[str, str] | None:
        if not isinstance(value, str) or not value.startswith("UEsDB"):
            return None
        try:
            with zipfile.ZipFile(io.BytesIO(base64.b64decode(value, validate=True))) as archive:
                return {info.filename: f"crc32 {info.CRC:08x}, {info.file_size} bytes"
                        for info in archive.infolist() if not info.is_dir()}
        except (binascii.Error, zipfile.BadZipFile, ValueError):
            return None

    old, new = members(before) if before != ABSENT else {}, members(after) if after != ABSENT else {}
    if old is None or new is None:
        return None
    return [(name, old.get(name, ABSENT), new.get(name, ABSENT)) for name in sorted(old.keys() | new.keys())
            if old.get(name) != new.get(name)]


# ---- resources -----------------------------------------------------------------------------------------------


def layers(document: dict[str, Any]) -> dict[str, str]:
    """urn -> the platform component (layer) it belongs to: the ancestor right below the root component."""
    resources = {resource["urn"]: resource for resource in document["resources"]}
    found: dict[str, str] = {}
    for urn in resources:
        chain = []
        current = urn
        while current in resources and current not in chain:
            chain.append(current)
            current = resources[current].get("parent", "")
        top = resources[chain[-2]] if len(chain) >= 2 and not resources[chain[-2]].get("custom") else \
            resources[chain[-1]]
        found[urn] = _layer_label(top)
    return found


def _layer_label(resource: Mapping[str, Any]) -> str:
    parts = str(resource.get("type", "")).split(":")
    return parts[1] if len(parts) == 3 and parts[0] == "dataplatform" else str(resource.get("name", "?"))


def resource_changes(comparison: PlanComparison, base_doc: dict[str, Any], head_doc: dict[str, Any]
                     ) -> dict[str, list[dict[str, Any]]]:
    """Added, removed, replaced and changed resources, each with its layer; a removed and an added resource of
    the same type and name (the URN changed) are one replacement unless the new one aliases the old URN."""
    old_layers, new_layers = layers(base_doc), layers(head_doc)
    providers = {r["urn"]: r for r in head_doc["resources"] if r.get("type", "").startswith("pulumi:providers:")}
    removed = {r["urn"]: r for r in comparison.removed}
    base_resources = {r["urn"]: r for r in base_doc["resources"]}
    result: dict[str, list[dict[str, Any]]] = {"added": [], "removed": [], "replaced": [], "changed": [],
                                                "moved": []}
    for resource in comparison.added:
        aliases = set((resource.get("options") or {}).get("aliases") or [])
        twin = next((old for old in removed.values() if old["urn"] in aliases
                     or (old["type"] == resource["type"] and old["name"] == resource["name"])), None)
        if twin is None:
            result["added"].append(_entry(resource, new_layers, inputs=resource.get("inputs") or {}))
            continue
        del removed[twin["urn"]]
        changes = value_changes("inputs", twin.get("inputs") or {}, resource.get("inputs") or {})
        entry = _entry(resource, new_layers, changes=changes, previousUrn=twin["urn"])
        if twin["urn"] in aliases:
            entry["note"] = "its URN changed and it aliases the old one: the engine keeps it (no replacement)"
            result["moved"].append(entry)
        else:
            moved = "parent" if twin.get("parent") != resource.get("parent") else "URN"
            entry.update(certainty=CERTAIN, reasons=[
                f"its {moved} changed with no alias to the old URN: the engine deletes it and creates it anew"])
            result["replaced"].append(entry)
    result["removed"] = [_entry(resource, old_layers) for resource in removed.values()]
    for change in comparison.changed:
        head = next(r for r in head_doc["resources"] if r["urn"] == change.urn)
        changes = [{"path": c.path, "before": c.before, "after": c.after} for c in change.changes
                   if not c.path.startswith("inputs.")]
        changes += value_changes("inputs", base_resources[change.urn].get("inputs") or {}, head.get("inputs") or {})
        verdict = replacement(head, [c.path for c in change.changes], providers)
        entry = _entry(head, new_layers, changes=changes)
        if verdict is None:
            result["changed"].append(entry)
        else:
            entry.update(certainty=verdict.certainty, reasons=list(verdict.reasons))
            result["replaced"].append(entry)
    for key in result:
        result[key].sort(key=lambda entry: (entry["layer"], entry["urn"]))
    return result


def _entry(resource: Mapping[str, Any], layer_of: Mapping[str, str], **extra: Any) -> dict[str, Any]:
    return {"layer": layer_of.get(resource["urn"], "?"), "urn": resource["urn"], "type": resource.get("type", ""),
            "name": resource.get("name", ""), **extra}


def policy_results(comparison: PlanComparison, base_doc: dict[str, Any], head_doc: dict[str, Any]
                   ) -> dict[str, list[dict[str, Any]]]:
    names = {r["urn"]: r.get("name", r["urn"]) for r in [*base_doc["resources"], *head_doc["resources"]]}

    def shape(violation: Mapping[str, Any]) -> dict[str, Any]:
        return {key: violation.get(key, "") for key in ("policy", "code", "level", "urn", "message")} | {
            "name": names.get(violation.get("urn", ""), violation.get("urn", ""))}

    return {"nowFailing": [shape(v) for v in comparison.violations_added],
            "nowPassing": [shape(v) for v in comparison.violations_removed]}


# ---- rendered objects ------------------------------------------------------------------------------------------


def rendered_changes(base_doc: dict[str, Any], head_doc: dict[str, Any], cache: Path) -> dict[str, Any]:
    """The objects of every release whose chart, version, name, namespace or values changed, rendered on both
    sides from the chart cache and compared by kind, namespace and name; identical release inputs render alike."""
    from infra.offline.render.planfile import Plan

    old = {release.urn: release for release in Plan(base_doc, Path("base")).releases}
    new = {release.urn: release for release in Plan(head_doc, Path("head")).releases}
    moved = [urn for urn in sorted(old.keys() | new.keys()) if _release_key(old.get(urn)) != _release_key(new.get(urn))]
    report: dict[str, Any] = {"status": "compared", "releases": [], "notes": [], "added": [], "removed": [],
                              "changed": []}
    if not moved:
        report["status"] = "no release changed"
        return report
    if not cache.is_dir():
        report["status"] = "cache missing"
        report["notes"].append(f"the chart cache {_home(cache)} is missing: rendered objects not compared "
                               f"({len(moved)} release(s) changed); `make chart-cache` fills it")
        return report
    for urn in moved:
        release = new.get(urn) or old[urn]
        report["releases"].append(release.name)
        before, why_old = _render(old.get(urn), cache)
        after, why_new = _render(new.get(urn), cache)
        for why in sorted({why for why in (why_old, why_new) if why}):
            report["notes"].append(f"release {release.name}: {why}")
        if why_old or why_new:
            continue
        for key in sorted(before.keys() | after.keys()):
            label = {"release": release.name, "kind": key[0], "namespace": key[1], "name": key[2]}
            if key not in before:
                report["added"].append(label)
            elif key not in after:
                report["removed"].append(label)
            else:
                changes = value_changes("", before[key], after[key])
                if changes:
                    report["changed"].append(label | {"changes": changes})
    return report


def _release_key(release: Any) -> str | None:
    if release is None:
        return None
    return json.dumps([release.chart, release.version, release.name, release.namespace, release.values],
                      sort_keys=True)


def _render(release: Any, cache: Path) -> tuple[dict[tuple[str, str, str], Any], str | None]:
    if release is None:
        return {}, None
    from infra.offline.render.cache import lookup
    from infra.offline.render.helm import as_installed, render_chart
    from infra.offline.render.values import helm_values

    cached = lookup(cache, release.chart, release.version)
    if cached is None:
        return {}, f"chart {release.chart} {release.version} is not in the chart cache; not compared"
    values, _ = helm_values(release.values)
    rendered = render_chart(cached.path, values, release.name, release.namespace)
    if rendered.render_error is not None:
        return {}, f"chart {release.chart} {release.version} does not render: {rendered.render_error.splitlines()[0]}"
    objects: dict[tuple[str, str, str], Any] = {}
    for item in [*rendered.crds, *(item for item in rendered.objects if not item.is_test)]:
        document = as_installed(item, release.name, release.namespace)
        if item.kind == "Secret":
            # What a chart puts in a Secret is never shown; a generated value would differ on every render anyway.
            for key in ("data", "stringData"):
                if isinstance(document.get(key), dict):
                    document[key] = {name: "[secret]" for name in document[key]}
        metadata = document.get("metadata") or {}
        objects[(item.kind, str(metadata.get("namespace", "")), item.name)] = document
    return objects, None


def _home(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return "~/" + str(path.relative_to(Path.home()))
    return str(path)


# ---- one stack's report -----------------------------------------------------------------------------------------


def stack_report(stack: str, base: dict[str, str], base_doc: dict[str, Any], head_doc: dict[str, Any],
                 enforcement_list: list[dict[str, Any]], cache: Path) -> dict[str, Any]:
    comparison = compare_plans(base_doc, head_doc, "base", "head")
    resources = resource_changes(comparison, base_doc, head_doc)
    policies = policy_results(comparison, base_doc, head_doc)
    rendered = rendered_changes(base_doc, head_doc, cache)
    weakenings = [change for change in enforcement_list if change["weakens"]]
    others = [change for change in enforcement_list if not change["weakens"]]
    counts = {key: len(resources[key]) for key in ("added", "removed", "replaced", "changed", "moved")}
    counts |= {"unchanged": comparison.unchanged, "outputs": len(comparison.outputs),
               "policyResults": len(policies["nowFailing"]) + len(policies["nowPassing"]),
               "weakenings": len(weakenings), "enforcementChanges": len(enforcement_list),
               "renderedObjects": len(rendered["added"]) + len(rendered["removed"]) + len(rendered["changed"])}
    different = any(counts[key] for key in counts if key != "unchanged") or bool(comparison.context)
    return {
        "stack": stack,
        "base": base,
        "head": "working tree",
        "verdict": "different" if different else "same",
        "counts": counts,
        "weakenings": weakenings,
        "enforcement": others,
        "resources": resources,
        "outputs": [{"path": c.path, "before": c.before, "after": c.after} for c in comparison.outputs],
        "policyResults": policies,
        "rendered": rendered,
        "context": [{"path": c.path, "before": c.before, "after": c.after} for c in comparison.context],
        "notCompared": comparison.not_compared,
    }


def failed_report(stack: str, base: dict[str, str], error: str) -> dict[str, Any]:
    return {"stack": stack, "base": base, "head": "working tree", "verdict": "failed", "error": error}


def summary_line(report: dict[str, Any]) -> str:
    where = f"{report['base']['ref']} ({report['base']['commit'][:12]}) -> working tree"
    if report["verdict"] == "failed":
        return f"plan-diff {report['stack']}: {where}: could not run: {report['error'].splitlines()[0]}"
    counts = report["counts"]
    return (f"plan-diff {report['stack']}: {where}: {report['verdict']}; {counts['weakenings']} enforcement "
            f"weakened, {counts['added']} added, {counts['removed']} removed, {counts['replaced']} replaced, "
            f"{counts['changed']} changed, {counts['policyResults']} policy results changed, "
            f"{counts['renderedObjects']} rendered objects changed")


def markdown(report: dict[str, Any]) -> str:
    stack, base = report["stack"], report["base"]
    lines = [f"## Plan diff: `{stack}`", "",
             f"Base `{base['ref']}` ({base['commit'][:12]}) -> this change.", ""]
    if report["verdict"] == "failed":
        lines += ["**The diff could not be made:**", "", "```", report["error"], "```", ""]
        return "\n".join(lines)
    counts = report["counts"]
    if report["weakenings"]:
        lines += [f"### Enforcement weakened ({len(report['weakenings'])})", "",
                  "The policy gate enforces less on this stack after this change: a security review is needed.", ""]
        lines += [f"- {change['text']}" for change in report["weakenings"]]
        lines.append("")
    else:
        lines += ["No enforcement weakened.", ""]
    if report["verdict"] == "same":
        lines += [f"No difference: {counts['unchanged']} resources, the same policy results and enforcement.", ""]
        return "\n".join(lines)
    lines += ["| change | count |", "|---|---|"]
    for key, label in (("added", "resources added"), ("removed", "resources removed"),
                       ("replaced", "resources replaced (approximated)"), ("changed", "resources changed in place"),
                       ("moved", "resources moved by alias"), ("unchanged", "resources unchanged"),
                       ("outputs", "stack outputs changed"), ("policyResults", "policy results changed"),
                       ("enforcementChanges", "enforcement changes"), ("renderedObjects", "rendered objects changed")):
        lines.append(f"| {label} | {counts[key]} |")
    lines.append("")
    if report["enforcement"]:
        lines += ["### Other enforcement changes", ""]
        lines += [f"- {change['text']}" + (" (direction not judged)" if change.get("unclassified") else "")
                  for change in report["enforcement"]]
        lines.append("")
    resources = report["resources"]
    by_layer: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for key, mark in (("removed", "-"), ("replaced", "-/+"), ("added", "+"), ("changed", "~"), ("moved", "=>")):
        for entry in resources[key]:
            by_layer.setdefault(entry["layer"], []).append((mark, entry))
    if by_layer:
        lines += ["### Resources by layer", "",
                  "`+` added, `-` removed, `-/+` replaced, `~` changed in place, `=>` moved by alias. Replacements "
                  "are approximated offline (certain: the provider's own rule; likely: the provider's docs; "
                  "possible: the new provider decides); `pulumi preview` decides.", ""]
    for layer in sorted(by_layer):
        lines += [f"#### {layer}", ""]
        for mark, entry in by_layer[layer]:
            title = f"- `{mark}` `{entry['type']}` **{entry['name']}**"
            if "certainty" in entry:
                title += f" ({entry['certainty']}: {'; '.join(entry['reasons'])})"
            if entry.get("note"):
                title += f" ({entry['note']})"
            lines.append(title)
            shown = entry.get("changes")
            if shown is None and "inputs" in entry:
                shown = [{"path": c.path, "before": c.before, "after": c.after}
                         for c in _value_changes("inputs", {}, entry["inputs"])]
            lines += [_change_line(change) for change in (shown or [])[:LIMIT_PER_RESOURCE]]
            if shown and len(shown) > LIMIT_PER_RESOURCE:
                lines.append(f"  - ... {len(shown) - LIMIT_PER_RESOURCE} more (the JSON report has them all)")
        lines.append("")
    if report["outputs"]:
        lines += ["### Stack outputs", ""]
        lines += [f"- `{c['path']}`: {_code(c['before'])} -> {_code(c['after'])}" for c in report["outputs"]]
        lines.append("")
    policies = report["policyResults"]
    if policies["nowFailing"] or policies["nowPassing"]:
        lines += ["### Policy results", ""]
        lines += [f"- now fails: [{v['level']}] `{v['policy']}` on **{v['name']}**: {v['message']}"
                  for v in policies["nowFailing"]]
        lines += [f"- now passes: [{v['level']}] `{v['policy']}` on **{v['name']}**" for v in policies["nowPassing"]]
        lines.append("")
    rendered = report["rendered"]
    lines += ["### Rendered objects", ""]
    if rendered["status"] == "no release changed":
        lines.append("No Helm release's chart, name, namespace or values changed.")
    for note in rendered["notes"]:
        lines.append(f"- {note}")
    for key, mark in (("removed", "-"), ("added", "+")):
        lines += [f"- `{mark}` {o['release']}: {o['kind']} `{o['namespace']}/{o['name']}`" for o in rendered[key]]
    for item in rendered["changed"]:
        lines.append(f"- `~` {item['release']}: {item['kind']} `{item['namespace']}/{item['name']}`")
        lines += [_change_line(change) for change in item["changes"][:LIMIT_PER_RESOURCE]]
        if len(item["changes"]) > LIMIT_PER_RESOURCE:
            lines.append(f"  - ... {len(item['changes']) - LIMIT_PER_RESOURCE} more")
    if rendered["status"] == "compared" and not (rendered["added"] or rendered["removed"] or rendered["changed"]):
        lines.append(f"Re-rendered {', '.join(rendered['releases'])}: no object changed.")
    lines.append("")
    if report["notCompared"]:
        lines += [f"Not compared (recorded by one plan only): {', '.join(report['notCompared'])}.", ""]
    lines += ["<sub>Offline plans under mocks: provider defaults, computed values and live state are not seen; a "
              "changed secret does not show.</sub>", ""]
    return "\n".join(lines)


def _change_line(change: Mapping[str, Any]) -> str:
    before, after = change["before"], change["after"]
    if isinstance(before, str) and isinstance(after, str) and before != ABSENT and after != ABSENT:
        # Long strings that differ late: show them from a little before the first difference.
        common = next((i for i, (x, y) in enumerate(zip(before, after, strict=False)) if x != y),
                      min(len(before), len(after)))
        if common > 60 and max(len(before), len(after)) > 90:
            start = common - 30
            before, after = "..." + before[start:], "..." + after[start:]
    if after == ABSENT:
        return f"  - `{change['path']}`: {_code(before)} -> (absent)"
    if before == ABSENT:
        return f"  - `{change['path']}`: {_code(after)}"
    return f"  - `{change['path']}`: {_code(before)} -> {_code(after)}"


def _code(value: Any) -> str:
    text = _short(value, 100).replace("`", "'")
    return f"`{text}`"


def comment(reports: list[dict[str, Any]]) -> str:
    """Every stack's Markdown in one body, weakenings of all stacks first, cut to fit a pull-request comment."""
    weakened = [(report["stack"], change) for report in reports if report["verdict"] != "failed"
                for change in report["weakenings"]]
    head = ["# Plan diff", ""]
    if weakened:
        head += [f"**Enforcement weakened ({len(weakened)}):**", ""]
        head += [f"- `{stack}`: {change['text']}" for stack, change in weakened]
        head.append("")
    head += [f"- {summary_line(report)}" for report in reports]
    head.append("")
    body = "\n".join(head) + "\n" + "\n".join(markdown(report) for report in reports)
    if len(body) > COMMENT_LIMIT:
        cut = body[:COMMENT_LIMIT].rsplit("\n", 1)[0]
        body = cut + "\n\n... cut to fit a comment: the job's artifact `plan-diff` has the whole report.\n"
    return body


# ---- the command -----------------------------------------------------------------------------------------------


def run(ref: str, stacks: list[str], out: Path, root: Path, cache: Path) -> int:
    for stack in stacks:
        if not (root / f"Pulumi.{stack}.yaml").is_file():
            known = sorted(path.name.split(".")[1] for path in root.glob("Pulumi.*.yaml"))
            raise InputError(f"no stack {stack!r} (Pulumi.{stack}.yaml); stacks: {', '.join(known)}")
    commit = resolve(root, ref)
    base_info = {"ref": ref, "commit": commit}
    head_pack = root / "policies" / "venv" / "bin" / "python"
    if not head_pack.exists():
        raise PlanRunError(f"{head_pack}: the pack's virtualenv is missing; run `make policy-venv`")
    with checkout(root, commit) as tree:
        program = base_venv(tree, root, PROGRAM_LOCKS, Path(sys.executable), "program",
                            ["-r", "requirements.txt", "-c", "constraints.txt"])
        pack = base_venv(tree, root, PACK_LOCKS, head_pack, "pack", ["-r", "policies/requirements.txt"])
        link = tree / "policies" / "venv"
        if not link.exists():
            link.symlink_to(pack.python.parent.parent)
        print(f"plan-diff: base {ref} ({commit[:12]}) planned with {program.origin} program virtualenv and "
              f"{pack.origin} pack virtualenv", file=sys.stderr)
        sides = (Side("base", tree, program.python, pack.python),
                 Side("working tree", root, Path(sys.executable), head_pack))
        with tempfile.TemporaryDirectory(prefix="plan-diff-") as scratch:
            plans = _plan_all(sides, stacks, Path(scratch))
            reports = _reports(sides, stacks, plans, base_info, cache)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*"):
        if stale.is_file():
            stale.unlink()
    for report in reports:
        (out / f"{report['stack']}.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
        (out / f"{report['stack']}.md").write_text(markdown(report))
        print(summary_line(report))
    (out / "comment.md").write_text(comment(reports))
    code = (EXIT_PLAN if any(r["verdict"] == "failed" for r in reports)
            else EXIT_DIFFERENT if any(r["verdict"] == "different" for r in reports) else EXIT_SAME)
    summary = {"base": base_info, "exit": code, "stacks": {r["stack"]: r["verdict"] for r in reports}}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return code


def _plan_all(sides: tuple[Side, Side], stacks: list[str], scratch: Path) -> dict[tuple[str, str], Any]:
    """Every (side, stack) planned, two at a time: the plan document, or the error that stopped it."""
    jobs = [(side, stack) for stack in stacks for side in sides]
    results: dict[tuple[str, str], Any] = {}
    for start in range(0, len(jobs), 2):
        running = [(side, stack, scratch / side.name.replace(" ", "-"),
                    start_plan(side, stack, scratch / side.name.replace(" ", "-")))
                   for side, stack in jobs[start:start + 2]]
        for side, stack, folder, process in running:
            _, stderr = process.communicate()
            if process.returncode not in (0, 1):
                lines = [line for line in stderr.strip().splitlines() if line.strip()]
                results[(side.name, stack)] = PlanRunError(
                    f"the {side.name}'s plan of {stack} failed (exit {process.returncode}): "
                    f"{lines[-1] if lines else 'no message'}\n{stderr.strip()[-3000:]}")
                continue
            try:
                results[(side.name, stack)] = load_plan(folder / f"{stack}.json")
            except PlanFileError as error:
                results[(side.name, stack)] = PlanRunError(f"the {side.name}'s plan of {stack}: {error}")
    return results


def _reports(sides: tuple[Side, Side], stacks: list[str], plans: dict[tuple[str, str], Any],
             base_info: dict[str, str], cache: Path) -> list[dict[str, Any]]:
    from infra.model.config import PROJECT

    try:
        inventories = [pack_policies(side, PROJECT) for side in sides]
        pack_error = None
    except PlanRunError as error:
        inventories, pack_error = [{}, {}], str(error)
    exemptable = _exemptable(sides[1])
    reports = []
    for stack in stacks:
        base_doc, head_doc = plans[(sides[0].name, stack)], plans[(sides[1].name, stack)]
        errors = [str(doc) for doc in (base_doc, head_doc) if isinstance(doc, Exception)]
        if pack_error:
            errors.append(pack_error)
        if errors:
            reports.append(failed_report(stack, base_info, "\n".join(errors)))
            continue
        old = enforcement(sides[0], inventories[0], stack)
        new = enforcement(sides[1], inventories[1], stack)
        changes = enforcement_changes(stack, old, new, base_doc, head_doc, exemptable)
        reports.append(stack_report(stack, base_info, base_doc, head_doc, changes, cache))
    return reports


# Run by the pack's own interpreter: the program never imports the pack (they share nothing but the plan).
EXEMPTABLE_PROBE = ("import json\nfrom policies import registry\nfrom policies.common import REGISTRY\n"
                    "print(json.dumps({name: meta.exemptable for name, meta in REGISTRY.items()}))")


def _exemptable(side: Side) -> dict[str, bool]:
    """Which policies honour exemptions, from a side's pack metadata, read by that side's pack interpreter (empty
    when it cannot be read)."""
    if not side.pack_python.exists():
        return {}
    probe = subprocess.run([str(side.pack_python), "-c", EXEMPTABLE_PROBE], cwd=side.tree, capture_output=True,
                           text=True, env={**os.environ, "PYTHONPATH": str(side.tree)}, check=False)
    if probe.returncode != 0:
        return {}
    return json.loads(probe.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make plan-diff", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="git ref to compare the working tree with (branch, tag, sha)")
    parser.add_argument("--stack", action="append", help="stack to diff (repeatable; default: dev and prod)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: <root>/build/plan-diff)")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="the working tree (a git checkout)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="chart cache (default: $DATAPLATFORM_CHART_CACHE, else ~/.cache/dataplatform/charts)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    try:
        return run(args.base, args.stack or list(DEFAULT_STACKS), args.out or root / "build" / "plan-diff", root,
                   (args.cache or default_cache()).expanduser())
    except InputError as error:
        print(f"plan-diff: {error}", file=sys.stderr)
        return EXIT_INPUT
    except PlanRunError as error:
        print(f"plan-diff: {error}", file=sys.stderr)
        return EXIT_PLAN


if __name__ == "__main__":
    sys.exit(main())
