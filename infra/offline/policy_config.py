"""Writes the program's facts into the pack's per-stack config (`make policy-config`, or
`python -m infra.offline.policy_config`).

The pack imports nothing of the program, so what it must know about the program reaches it as data in
`policies/config/<stack>.json`, the file users pass as `--policy-pack-config` and the offline gate sends as the
CLI does (docs/decisions/0015-self-contained-pack.md). Today that is the hardening paths of every chart the
program pins (`infra/model/charts.py`): each chart-aware Kubernetes policy gets a `charts` setting with the paths it
checks. Everything else in the files (enforcement levels, the security team's settings) is kept as it is; only
the `charts` settings are this command's. `--check` changes nothing and exits 1 when a file differs from what
this would write; tests/policies/test_policy_config.py fails the same way.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.model.charts import CHARTS, ChartPaths

CONFIG_DIR = Path(__file__).resolve().parents[2] / "policies" / "config"

# Policy id -> the facts of `ChartPaths.hardening_facts()` its `charts` setting carries (policies/charts.py).
CHART_FACTS: dict[str, tuple[str, ...]] = {
    "kubernetes-pod-require-restricted-security": ("podSecurity", "containerSecurity"),
    "kubernetes-container-require-resource-limits": ("resources",),
    "kubernetes-image-disallow-latest-tag": ("images",),
    "kubernetes-image-require-digest": ("images",),
    "kubernetes-secret-disallow-plaintext": ("plaintextSecrets",),
    "kubernetes-service-disallow-public-load-balancer": ("serviceTypes",),
    "kubernetes-endpoint-require-tls": ("tls",),
}


def charts_settings(charts: Mapping[str, ChartPaths] = CHARTS) -> dict[str, dict[str, Any]]:
    """Policy id -> its `charts` setting: every pinned chart, by name, with the paths that policy checks."""
    facts = {name: charts[name].hardening_facts() for name in sorted(charts)}
    return {
        policy: {name: {fact: chart[fact] for fact in wanted} for name, chart in facts.items()}
        for policy, wanted in CHART_FACTS.items()
    }


def generate(document: Mapping[str, Any], charts: Mapping[str, ChartPaths] = CHARTS) -> dict[str, Any]:
    """`document` with every chart-aware policy's `charts` setting replaced by the program's; the rest kept."""
    result: dict[str, Any] = {}
    settings = charts_settings(charts)
    for name, value in document.items():
        if name in settings:
            entry = {"enforcementLevel": value} if isinstance(value, str) else dict(value)
            entry["charts"] = settings.pop(name)
            result[name] = entry
        else:
            result[name] = value
    for name, charts_setting in settings.items():
        result[name] = {"charts": charts_setting}
    return result


def render(document: Mapping[str, Any]) -> str:
    """One line per policy, as the files are written by hand; a `charts` setting indented below its policy."""
    lines = []
    for name, value in document.items():
        if isinstance(value, dict) and "charts" in value:
            text = json.dumps(value, indent=2).replace("\n", "\n  ")
        else:
            text = json.dumps(value)
        lines.append(f"  {json.dumps(name)}: {text}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def expected(path: Path) -> str:
    """What `path` should contain: the file as it is, with the program's facts written in."""
    return render(generate(json.loads(path.read_text())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.offline.policy_config", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a file would change")
    parser.add_argument("--config-dir", type=Path, default=CONFIG_DIR)
    args = parser.parse_args(argv)
    stale = []
    for path in sorted(args.config_dir.glob("*.json")):
        text = expected(path)
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
