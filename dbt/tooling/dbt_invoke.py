"""Run the dbt CLI of this virtualenv on the project and read back what it did (target/run_results.json)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tooling import layout
from tooling.errors import UsageError

# dbt reads the same two variables; tests point them at a folder of their own.
TARGET_PATH = Path(os.environ.get("DBT_TARGET_PATH") or layout.BUILD_DIR / "dbt" / "target")
LOG_PATH = Path(os.environ.get("DBT_LOG_PATH") or layout.BUILD_DIR / "dbt" / "logs")


@dataclass
class DbtOutcome:
    returncode: int
    results: list[dict] = field(default_factory=list)
    elapsed: float = 0.0

    def count(self, resource: str, statuses: tuple[str, ...] | None = None) -> int:
        return sum(1 for r in self.results if r["unique_id"].split(".")[0] == resource
                   and (statuses is None or r["status"] in statuses))

    @property
    def models_run(self) -> int:
        return self.count("model", ("success",))

    @property
    def tests_passed(self) -> int:
        return self.count("test", ("pass",))

    @property
    def tests_run(self) -> int:
        return self.count("test")

    @property
    def failures(self) -> list[str]:
        return [f"{r['unique_id']}: {r['status']}" for r in self.results
                if r["status"] in ("error", "fail", "runtime error")]


def profiles_dir() -> Path:
    return Path(os.environ.get("DBT_PROFILES_DIR") or layout.DBT_DIR)


def check_profile(target: str) -> None:
    """One clear message when the profile, or the target in it, cannot be found."""
    folder = profiles_dir()
    path = folder / "profiles.yml"
    hint = ("run from the repository root with `make pipeline`, or pass `--profiles-dir dbt` "
            "(or set DBT_PROFILES_DIR to the folder holding profiles.yml)")
    if not path.is_file():
        raise UsageError(f"no dbt profiles.yml in {folder}; {hint}")
    profile = (yaml.safe_load(path.read_text()) or {}).get(layout.PROFILE_NAME)
    if not isinstance(profile, dict):
        raise UsageError(f"{path} has no profile '{layout.PROFILE_NAME}'; {hint}")
    if target not in (profile.get("outputs") or {}):
        raise UsageError(f"profile '{layout.PROFILE_NAME}' in {path} has no target '{target}'; "
                         f"use one of: {', '.join(profile.get('outputs') or {})}")


def dbt_executable() -> str:
    return str(Path(sys.executable).with_name("dbt"))


def run(command: list[str], target: str, extra_env: dict[str, str] | None = None) -> DbtOutcome:
    """`dbt <command>` on the project for `target`, output streamed to the terminal."""
    check_profile(target)
    args = [dbt_executable(), *command, "--project-dir", str(layout.DBT_DIR), "--profiles-dir", str(profiles_dir()),
            "--target", target, "--target-path", str(TARGET_PATH), "--log-path", str(LOG_PATH)]
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", **(extra_env or {})}
    layout.duckdb_path().parent.mkdir(parents=True, exist_ok=True)  # DuckDB creates the file, not its folder
    results_file = TARGET_PATH / "run_results.json"
    results_file.unlink(missing_ok=True)
    returncode = subprocess.run(args, env=env, cwd=layout.REPO_ROOT).returncode
    if not results_file.exists():
        return DbtOutcome(returncode)
    data = json.loads(results_file.read_text())
    return DbtOutcome(returncode, data.get("results", []), data.get("elapsed_time", 0.0))
