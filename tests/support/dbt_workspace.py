"""A workspace of its own for a dbt test: lake mirror, DuckDB file and dbt target folder under a temporary
folder, with helpers that run the tooling and dbt of the dbt virtualenv and read Parquet back through it."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PYTHON = REPO_ROOT / ".venv-dbt" / "bin" / "python"

_DUMP = """
import json, sys
import pyarrow.dataset as ds
table = ds.dataset(sys.argv[1], format="parquet", partitioning="hive").to_table()
print(json.dumps(table.to_pylist(), default=str))
"""


@dataclass
class Workspace:
    """A lake mirror, DuckDB file and dbt target folder of the test's own; runs tooling and dbt inside it."""

    root: Path
    extra_env: dict[str, str]

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("DBT_", "PYTHONPATH"))}
        env.update({
            "PYTHONPATH": str(REPO_ROOT / "dbt"),
            "DBT_LAKE_ROOT": str(self.lake),
            "DBT_DUCKDB_PATH": str(self.root / "dbt" / "dataplatform.duckdb"),
            "DBT_TARGET_PATH": str(self.root / "dbt" / "target"),
            "DBT_LOG_PATH": str(self.root / "dbt" / "logs"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            **self.extra_env,
        })
        return env

    def tool(self, module: str, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess:
        """`python -m tooling.<module> args` in the dbt virtualenv, from the repository root."""
        result = subprocess.run([str(DBT_PYTHON), "-m", f"tooling.{module}", *args], cwd=REPO_ROOT,
                                env={**self.env, **env}, capture_output=True, text=True, timeout=900)
        if check and result.returncode != 0:
            raise AssertionError(f"tooling.{module} {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stdout[-6000:]}\n{result.stderr[-4000:]}")
        return result

    def python(self, code: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """`python -c code args` in the dbt virtualenv with the workspace's environment (tooling importable)."""
        result = subprocess.run([str(DBT_PYTHON), "-c", code, *args], cwd=REPO_ROOT, env=self.env,
                                capture_output=True, text=True, timeout=900)
        if check and result.returncode != 0:
            raise AssertionError(f"python -c exited {result.returncode}:\n{result.stderr[-4000:]}")
        return result

    def dbt(self, *args: str, check: bool = True, target: str = "local",
            project_dir: Path = REPO_ROOT / "dbt") -> subprocess.CompletedProcess:
        """dbt in the dbt virtualenv on the workspace; `project_dir` (and its profiles) defaults to the project's."""
        command = [str(DBT_PYTHON.with_name("dbt")), *args, "--project-dir", str(project_dir),
                   "--profiles-dir", str(project_dir), "--target", target]
        result = subprocess.run(command, cwd=REPO_ROOT, env=self.env, capture_output=True, text=True, timeout=900)
        if check and result.returncode != 0:
            raise AssertionError(f"dbt {' '.join(args)} exited {result.returncode}:\n{result.stdout[-8000:]}")
        return result

    def generate(self, orders: int, *args: str) -> None:
        self.tool("generate", "--orders", str(orders), *args)

    def rows(self, layer: str, key: str) -> list[dict]:
        """Every row of the Parquet files under `<lake>/<layer>/<key>`, as plain JSON values."""
        result = subprocess.run([str(DBT_PYTHON), "-c", _DUMP, str(self.lake / layer / key)], capture_output=True,
                                text=True, check=True)
        return json.loads(result.stdout)

    def query(self, sql: str) -> list[list]:
        """A read-only query on the workspace's DuckDB database (in memory before the first build)."""
        code = ("import duckdb, json, os, sys; "
                "path = sys.argv[1]; "
                "con = duckdb.connect(path, read_only=True) if os.path.exists(path) else duckdb.connect(); "
                "print(json.dumps(con.execute(sys.argv[2]).fetchall(), default=str))")
        result = subprocess.run([str(DBT_PYTHON), "-c", code, self.env["DBT_DUCKDB_PATH"], sql],
                                capture_output=True, text=True, check=True)
        return json.loads(result.stdout)
