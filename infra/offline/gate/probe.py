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
judged = exemptions.judge(given["entries"], datetime.date.fromisoformat(given["on"]), given["exemptable"],
                          given["codes"])
print(json.dumps([entry.to_dict() for entry in judged]))
"""

REGISTRY = """
import json
from policies import registry
from policies.common import REGISTRY
print(json.dumps({name: meta.exemptable for name, meta in REGISTRY.items()}))
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
                     exemptable: Mapping[str, bool], codes: Mapping[str, str]) -> list[dict[str, Any]]:
    """The allow-list's entries judged on `on` by the pack's own `exemptions.judge`."""
    given = {"entries": list(entries), "on": on.isoformat(), "exemptable": dict(exemptable), "codes": dict(codes)}
    return _run(python, JUDGE, pack_dir, json.dumps(given))


def exemptable_policies(pack_dir: Path, python: Path | None = None) -> dict[str, bool]:
    """Policy id -> whether the pack lets it be exempted, from the pack's registry."""
    python = python or pack_dir / "venv" / "bin" / "python"
    return _run(python, REGISTRY, pack_dir.parent, env={"PYTHONPATH": str(pack_dir.parent)})
