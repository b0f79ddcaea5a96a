"""Writes the program's facts into the pack's per-stack config (`make policy-config`, or
`python -m infra.offline.policy_config`).

The pack imports nothing of the program, so what it must know about the program reaches it as data in
`policies/config/<stack>.json`, the file users pass as `--policy-pack-config` and the offline gate sends as the
CLI does (docs/decisions/0015-self-contained-pack.md). Today that is the hardening paths of every chart the
program pins (`infra/model/charts.py`): each chart-aware Kubernetes policy gets a `charts` setting with the paths it
checks; and what holds audit data, for the audit-retention policies: the buckets (`auditRoles`, from
components/storage/access.py) and the Elasticsearch audit indices (`auditPolicies`, from components/logs/spec.py),
plus, for a stack of stage prod, the audit minimum the stack config's model enforces (`minDays`,
MIN_AUDIT_DAYS_PROD), so the program's early refusal (exit 2) and the gate judge the same number; and, for the
Elasticsearch snapshot rule, the audit index patterns (`auditIndices`) and the stack's own `retention.auditDays`
as `minDays` in every stage: audit snapshots are kept at least as long as the audit indices themselves; the
role-to-layer matrix of every access surface and the stack's AWS accounts (infra/offline/role_matrix.py); and each
exemptable policy's own `exemptions` setting, copied from the security team's allow-list (the `exemptions` of
`pack-exemption-require-allow-list`, policies/exemptions.py), since a policy sees only its own settings. Everything
else in the files (enforcement levels, the allow-list, the security team's settings, a non-prod stack's ILM
`minDays`) is kept as it is.
`--check` changes nothing and exits 1 when a file differs from what this would write;
tests/policies/test_policy_config.py fails the same way.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from components.logs.spec import READER_ROLE, WRITER_ROLE, families
from components.storage.access import AUDIT_BUCKETS
from infra.model.charts import CHARTS, ChartPaths
from infra.model.config import StackConfig, parse_stack_config, project_values
from infra.model.naming import bucket_name
from infra.model.sections import MIN_AUDIT_DAYS_PROD
from infra.model.stackfiles import load_stack
from infra.offline.gate.probe import exemptable_policies
from infra.offline.gate.settings import ALLOW_LIST, PACK_DIR, SETTING, copies
from infra.offline.role_matrix import matrix_settings

CONFIG_DIR = Path(__file__).resolve().parents[2] / "policies" / "config"

# Policy id -> the facts of `ChartPaths.hardening_facts()` its `charts` setting carries (policies/charts.py).
CHART_FACTS: dict[str, tuple[str, ...]] = {
    "kubernetes-pod-require-restricted-security": ("podSecurity", "containerSecurity"),
    "kubernetes-container-require-resource-limits": ("resources",),
    "kubernetes-image-disallow-latest-tag": ("images",),
    "kubernetes-image-require-digest": ("images",),
    "kubernetes-secret-disallow-plaintext": ("plaintextSecrets",),
    "kubernetes-service-disallow-public-load-balancer": ("serviceTypes",),
    "kubernetes-service-disallow-node-port": ("serviceTypes",),
    "kubernetes-endpoint-require-tls": ("tls",),
}

# The role-to-layer matrix's settings: written one key a line, each list of names on its line, for review.
MATRIX_KEYS = ("principals", "roles", "grants")


def charts_settings(charts: Mapping[str, ChartPaths] = CHARTS) -> dict[str, dict[str, Any]]:
    """Policy id -> its `charts` setting: every pinned chart, by name, with the paths that policy checks."""
    facts = {name: charts[name].hardening_facts() for name in sorted(charts)}
    return {
        policy: {name: {fact: chart[fact] for fact in wanted} for name, chart in facts.items()}
        for policy, wanted in CHART_FACTS.items()
    }


def audit_settings(stage: str, audit_days: int | None = None,
                   audit_buckets: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Policy id -> the audit facts its settings carry; `minDays` only where the stage has a minimum, and for the
    snapshot rule the stack's `retention.auditDays` when given; `auditBuckets`, the physical names of the stack's
    audit buckets, when given (the bucket policies then judge those buckets whatever their role tag says)."""
    minimum = {"minDays": MIN_AUDIT_DAYS_PROD} if stage == "prod" else {}
    buckets = {**minimum, "auditRoles": list(AUDIT_BUCKETS),
               **({"auditBuckets": list(audit_buckets)} if audit_buckets is not None else {})}
    audit_families = [family for family in families(1, 1) if family.audit]
    indices = {**minimum, "auditPolicies": [family.name for family in audit_families]}
    patterns = [family.pattern for family in audit_families]
    snapshots = {**({"minDays": audit_days} if audit_days is not None else {}), "auditIndices": patterns}
    return {
        "aws-s3-bucket-configure-log-retention": buckets,
        "aws-s3-bucket-enable-object-lock": buckets,
        "minio-s3-bucket-configure-log-retention": buckets,
        "elasticsearch-ilm-configure-audit-retention": indices,
        "elasticsearch-cluster-require-snapshots": snapshots,
        "aws-iam-policy-require-append-only-audit-writes": {
            key: value for key, value in buckets.items() if key in ("auditRoles", "auditBuckets")},
        "elasticsearch-role-disallow-audit-tampering": {"auditIndices": patterns, "auditWriters": [WRITER_ROLE]},
        "elasticsearch-role-disallow-audit-reads": {"auditIndices": patterns, "auditReaders": [READER_ROLE]},
    }


def stack_stage(stack: str) -> str:
    """The stage `Pulumi.<stack>.yaml` declares (the stack config's model reads it)."""
    return stack_facts(stack)[0]


def stack_facts(stack: str) -> tuple[str, int]:
    """The stage and the audit retention (`retention.auditDays`) `Pulumi.<stack>.yaml` declares."""
    config = stack_config(stack)
    return config.stage, config.retention.audit_days


def stack_config(stack: str) -> StackConfig:
    """`Pulumi.<stack>.yaml` as the program's model reads it."""
    return parse_stack_config(project_values(load_stack(stack).config), stack)


def audit_bucket_names(stack: str) -> list[str]:
    """The physical names of the stack's audit buckets (`<namePrefix>-<stack>-<role>`, infra/model/naming.py)."""
    config = stack_config(stack)
    return [bucket_name(config.name_prefix, config.stack, role) for role in AUDIT_BUCKETS]


def generate(document: Mapping[str, Any], charts: Mapping[str, ChartPaths] = CHARTS,
             stage: str = "prod", audit_days: int | None = None,
             exemptable: Mapping[str, bool] | None = None,
             matrix: Mapping[str, Mapping[str, Any]] | None = None,
             audit_buckets: list[str] | None = None) -> dict[str, Any]:
    """`document` with the program's facts written into the settings they own; the rest kept. `exemptable`: which
    policies the pack lets be exempted (default: asked of the pack); `matrix`: the role-to-layer matrix settings
    (infra/offline/role_matrix.py), none when not given."""
    exemptable = exemptable if exemptable is not None else exemptable_policies(PACK_DIR)
    result: dict[str, Any] = {}
    settings: dict[str, dict[str, Any]] = {name: {"charts": value} for name, value in charts_settings(charts).items()}
    for name, facts in audit_settings(stage, audit_days, audit_buckets).items():
        settings.setdefault(name, {}).update(facts)
    for name, facts in (matrix or {}).items():
        settings.setdefault(name, {}).update(facts)
    allow_list = document.get(ALLOW_LIST)
    listed = copies(allow_list.get(SETTING, []) if isinstance(allow_list, dict) else [])
    for name in sorted(policy for policy, may in exemptable.items() if may):
        settings.setdefault(name, {})[SETTING] = listed.get(name, [])
    for name, value in document.items():
        if name in settings:
            entry = {"enforcementLevel": value} if isinstance(value, str) else dict(value)
            entry.update(settings.pop(name))
            result[name] = _without_empty_copy(entry)
        else:
            result[name] = value
    result.update({name: _without_empty_copy(entry) for name, entry in settings.items()})
    return {name: entry for name, entry in result.items() if entry != {}}


def _without_empty_copy(entry: dict[str, Any]) -> dict[str, Any] | str:
    """A policy entry without an empty exemptions copy; just its level when nothing else is left."""
    entry = {key: value for key, value in entry.items() if not (key == SETTING and value == [])}
    if list(entry) == ["enforcementLevel"]:
        return entry["enforcementLevel"]
    return entry


def render(document: Mapping[str, Any]) -> str:
    """One line per policy, as the files are written by hand; a `charts` setting indented below its policy, and
    one line per exemption."""
    lines = []
    for name, value in document.items():
        if isinstance(value, dict) and any(key in value for key in MATRIX_KEYS):
            text = _compact(value, "  ")
        elif isinstance(value, dict) and "charts" in value:
            text = json.dumps(value, indent=2).replace("\n", "\n  ")
        elif isinstance(value, dict) and any(isinstance(item, list) and item and isinstance(item[0], dict)
                                             for item in value.values()):
            fields = []
            for key, item in value.items():
                if isinstance(item, list) and item and isinstance(item[0], dict):
                    entries = ",\n".join(f"      {json.dumps(entry)}" for entry in item)
                    fields.append(f"{json.dumps(key)}: [\n{entries}\n    ]")
                else:
                    fields.append(f"{json.dumps(key)}: {json.dumps(item)}")
            text = "{\n    " + ",\n    ".join(fields) + "\n  }"
        else:
            text = json.dumps(value)
        lines.append(f"  {json.dumps(name)}: {text}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _compact(value: Any, indent: str) -> str:
    """A mapping one key a line, nested; a mapping of names or of lists of names on one line."""
    if not isinstance(value, dict) or not any(
            isinstance(item, dict) or (isinstance(item, list) and any(isinstance(entry, list) for entry in item))
            for item in value.values()):
        return json.dumps(value)
    inner = indent + "  "
    fields = [f"{inner}{json.dumps(key)}: {_compact(item, inner)}" for key, item in value.items()]
    return "{\n" + ",\n".join(fields) + f"\n{indent}}}"


def expected(path: Path, exemptable: Mapping[str, bool] | None = None) -> str:
    """What `path` (`<stack>.json`) should contain: the file as it is, with the program's facts written in."""
    config = stack_config(path.stem)
    return render(generate(json.loads(path.read_text()), stage=config.stage, audit_days=config.retention.audit_days,
                           exemptable=exemptable, matrix=matrix_settings(config),
                           audit_buckets=audit_bucket_names(path.stem)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.offline.policy_config", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a file would change")
    parser.add_argument("--config-dir", type=Path, default=CONFIG_DIR)
    args = parser.parse_args(argv)
    stale = []
    exemptable = exemptable_policies(PACK_DIR)
    for path in sorted(args.config_dir.glob("*.json")):
        text = expected(path, exemptable)
        if path.read_text() == text:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(text)
    verb = "differs from the program's facts" if args.check else "written"
    for path in stale:
        print(f"{path}: {verb}")
    if args.check and stale:
        print("run `make policy-config` and commit the result", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
