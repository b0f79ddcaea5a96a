"""Questions about the pack answered by the pack's own interpreter, in its own folder.

The program imports nothing of the pack (docs/decisions/0015-self-contained-pack.md), yet the gate reports the
exemptions the pack honours, and `make policy-config` must know which policies may be exempted. Both are asked of
the pack itself: its virtualenv's Python runs a few lines in the pack's folder (`exemptions.py` imports nothing of
the pack, so it loads as a plain module there; the registry loads as the package the pack's tests use).
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from infra.offline.gate.report import GateError

JUDGE = """
import json, sys, datetime
import exemptions
given = json.load(sys.stdin)
on = datetime.date.fromisoformat(given["on"])
judged = exemptions.judge(given["entries"], on, given["exemptable"], given["codes"])
excepted = exemptions.judge_exceptions(given["exceptions"], on)
print(json.dumps({"exemptions": [entry.to_dict() for entry in judged],
                  "exceptions": [entry.to_dict() for entry in excepted]}))
"""

REGISTRY = """
import json
from policies import registry
from policies.common import REGISTRY
print(json.dumps({name: meta.exemptable for name, meta in REGISTRY.items()}))
"""

STACK_READS = """
import json, sys
from pulumi_policy import (PolicyCustomTimeouts, PolicyResource, PolicyResourceOptions, StackValidationArgs,
                           StackValidationPolicy)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy
from policies.common import resources_read
from policies.registry import POLICIES
given = json.load(sys.stdin)
by_urn = {}
for entry in given["resources"]:
    opts = PolicyResourceOptions(entry["protect"], [], None, [], PolicyCustomTimeouts(0, 0, 0), [],
                                 entry["parent"] or None)
    by_urn[entry["urn"]] = PolicyResource(entry["type"], unknown_checking_proxy(deserialize_properties(
        entry["inputs"])), entry["urn"], entry["name"], opts, None, None, [], {})
for entry in given["resources"]:
    resource = by_urn[entry["urn"]]
    resource.parent = by_urn.get(entry["parent"])
    resource.dependencies = [by_urn[urn] for urn in entry["dependencies"] if urn in by_urn]
    resource.property_dependencies = {key: [by_urn[urn] for urn in urns if urn in by_urn]
                                      for key, urns in entry["propertyDependencies"].items()}
resources = list(by_urn.values())
read = {}
for policy in POLICIES:
    if not isinstance(policy, StackValidationPolicy) or policy.name not in given["config"]:
        continue
    args = StackValidationArgs(resources, given["config"][policy.name])

    def run(policy=policy, args=args):
        try:
            policy.validate(args, lambda message, urn=None: None)
        except UnknownValueError:
            pass

    read[policy.name] = sorted(resources_read(resources, run))
print(json.dumps(read))
"""


def _run(python: Path, code: str, cwd: Path, stdin: str = "", env: Mapping[str, str] | None = None) -> Any:
    if not python.exists():
        raise GateError(f"{python}: the pack's virtualenv is missing; run `make policy-venv`")
    clean = {key: value for key, value in os.environ.items() if key not in ("PYTHONHOME", "PYTHONPATH")}
    done = subprocess.run([os.path.abspath(python), "-c", code], cwd=cwd, input=stdin, capture_output=True, text=True,
                          env={**clean, **(env or {})}, check=False)
    if done.returncode != 0:
        raise GateError(f"the pack's interpreter could not answer: {done.stderr.strip()}")
    return json.loads(done.stdout)


def judge_exemptions(pack_dir: Path, python: Path, entries: Iterable[Any], on: datetime.date,
                     exemptable: Mapping[str, bool], codes: Mapping[str, str],
                     exceptions: Iterable[Any] = ()) -> dict[str, list[dict[str, Any]]]:
    """The allow-list's exemptions and exceptions judged on `on` by the pack's own `exemptions.py`."""
    given = {"entries": list(entries), "on": on.isoformat(), "exemptable": dict(exemptable), "codes": dict(codes),
             "exceptions": list(exceptions)}
    return _run(python, JUDGE, pack_dir, json.dumps(given))


def exemptable_policies(pack_dir: Path, python: Path | None = None) -> dict[str, bool]:
    """Policy id -> whether the pack lets it be exempted, from the pack's registry."""
    python = python or pack_dir / "venv" / "bin" / "python"
    return _run(python, REGISTRY, pack_dir.parent, env={"PYTHONPATH": str(pack_dir.parent)})


def stack_policy_reads(pack_dir: Path, resources: list[dict[str, Any]],
                       config: Mapping[str, Mapping[str, Any]], python: Path | None = None) -> dict[str, list[str]]:
    """Stack policy -> the URNs of the resources whose inputs it read over `resources` (wire form, with parent,
    dependencies and property dependencies), run with `config` (policy -> settings) by the pack's interpreter."""
    python = python or pack_dir / "venv" / "bin" / "python"
    given = {"resources": resources, "config": {name: dict(settings) for name, settings in config.items()}}
    return _run(python, STACK_READS, pack_dir.parent, json.dumps(given), env={"PYTHONPATH": str(pack_dir.parent)})
