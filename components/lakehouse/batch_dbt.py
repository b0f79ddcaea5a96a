"""The batch's second step: `dbt build` with JSON logs, `dbt source freshness`, and the run written to
`platform.dbt_run_history` (migrations/V002__dbt_run_history.sql).

The `batch` CronJob runs this file as its `dbt` init container, in the dbt runner image (dbt-core, dbt-dremio,
psycopg), mounted from a ConfigMap; tests/dbt/test_batch_dbt.py runs it with the dbt virtualenv's dbt on the local
target against a real PostgreSQL.

    DBT_TARGET=dremio RUN_HISTORY_HOST=metadata-rw.dp-metadata.svc.cluster.local RUN_HISTORY_DATABASE=platform \\
    RUN_HISTORY_USER=dbt RUN_HISTORY_PASSWORD=... RUN_HISTORY_SSLROOTCERT=/etc/dataplatform/ca/ca.crt \\
    BATCH_RESULTS_FILE=/tmp/batch-syncs.json python batch_dbt.py

What it does, in order:
1. `dbt build --target <DBT_TARGET> --log-format json`: every event one JSON line on stdout, which the log shipper
   routes to the job-log and dbt-runs indices (components/lakehouse/log_routes.py);
2. `dbt source freshness --target <DBT_TARGET> --log-format json`, whatever the build's outcome (a stale source is
   often why a build fails): each result is event `Q018` (LogFreshnessResult: `data.status` pass, warn, error or
   runtime error, `data.source_name`, `data.table_name`), from which the log shipper derives the series the
   `DbtSourceStale` alert reads. A stale source does not fail the step: the marts that were built are served, and
   the alert names the source;
3. one row in `platform.dbt_run_history`: run id = dbt's invocation id (the `job_id` of the build's log lines),
   the catalog's project name, start and end, `success` or `error`, models built, tests run, and in `metadata` the
   target, the failures, the freshness results and the syncs step's results (BATCH_RESULTS_FILE, when set), so one
   row says what the batch read and built. The login is the metadata layer's `dbt`, the only writer of the table;
   TLS is verified (`verify-full`) against RUN_HISTORY_SSLROOTCERT.

Exit status: the build's (0 built, 1 a model or test failed, 2 dbt could not run), or 1 when the run could not be
recorded (the message says why); 2 as well when the step is misconfigured (nothing was run).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REQUIRED = ("DBT_TARGET", "DBT_PROJECT_NAME", "RUN_HISTORY_HOST", "RUN_HISTORY_DATABASE", "RUN_HISTORY_USER",
            "RUN_HISTORY_PASSWORD", "RUN_HISTORY_SSLROOTCERT")
FAILED = ("error", "fail", "runtime error")


class ConfigurationError(Exception):
    """The step's environment is incomplete or malformed (exit 2)."""


@dataclass(frozen=True)
class Settings:
    target: str
    project: str
    dbt: str
    target_path: Path
    results_file: Path | None
    database: dict[str, str]

    @classmethod
    def from_environment(cls, environ: dict[str, str]) -> Settings:
        missing = [name for name in REQUIRED if not environ.get(name)]
        if missing:
            raise ConfigurationError(f"missing environment variable(s): {', '.join(missing)}")
        if not os.path.isfile(environ["RUN_HISTORY_SSLROOTCERT"]):
            raise ConfigurationError(f"RUN_HISTORY_SSLROOTCERT {environ['RUN_HISTORY_SSLROOTCERT']!r} is not a "
                                     "readable file")
        port = environ.get("RUN_HISTORY_PORT") or "5432"
        if not port.isdigit():
            raise ConfigurationError(f"RUN_HISTORY_PORT must be a port number, got {port!r}")
        results = environ.get("BATCH_RESULTS_FILE")
        return cls(environ["DBT_TARGET"], environ["DBT_PROJECT_NAME"], environ.get("DBT_EXECUTABLE") or "dbt",
                   Path(environ.get("DBT_TARGET_PATH") or "target"), Path(results) if results else None,
                   {"host": environ["RUN_HISTORY_HOST"], "port": port, "dbname": environ["RUN_HISTORY_DATABASE"],
                    "user": environ["RUN_HISTORY_USER"], "password": environ["RUN_HISTORY_PASSWORD"],
                    "sslmode": "verify-full", "sslrootcert": environ["RUN_HISTORY_SSLROOTCERT"]})


def dbt(settings: Settings, command: str) -> tuple[int, dict[str, Any]]:
    """`dbt <command>` with JSON logs (its output is the container's), and the artifact it writes."""
    artifact = settings.target_path / ("sources.json" if command == "source freshness" else "run_results.json")
    artifact.unlink(missing_ok=True)
    returncode = subprocess.run([settings.dbt, *command.split(), "--target", settings.target,
                                 "--log-format", "json"], check=False).returncode
    sys.stdout.flush()
    found = json.loads(artifact.read_text()) if artifact.is_file() else {}
    return returncode, found


def count(results: list[dict[str, Any]], resource: str, statuses: tuple[str, ...] | None = None) -> int:
    return sum(1 for result in results if result["unique_id"].split(".")[0] == resource
               and (statuses is None or result["status"] in statuses))


def freshness(sources: dict[str, Any]) -> list[dict[str, Any]]:
    """Each source table's freshness result, as sources.json holds it."""
    return [{"source": result["unique_id"].split(".")[-2], "table": result["unique_id"].split(".")[-1],
             "status": result["status"], "max_loaded_at": result.get("max_loaded_at"),
             "age_seconds": result.get("max_loaded_at_time_ago_in_s")}
            for result in sources.get("results", [])]


def run_record(settings: Settings, started: datetime, returncode: int, build: dict[str, Any],
               sources: dict[str, Any]) -> dict[str, Any]:
    results = build.get("results", [])
    invocation = (build.get("metadata") or {}).get("invocation_id")
    syncs = None
    if settings.results_file is not None and settings.results_file.is_file():
        syncs = json.loads(settings.results_file.read_text()).get("syncs")
    metadata = {"target": settings.target, "dbt_exit_code": returncode,
                "dbt_elapsed_s": round(float(build.get("elapsed_time") or 0.0), 3),
                "failures": [f"{r['unique_id']}: {r['status']}" for r in results if r["status"] in FAILED],
                "freshness": freshness(sources), "syncs": syncs}
    return {"run_id": uuid.UUID(invocation) if invocation else uuid.uuid4(), "project_name": settings.project,
            "started_at": started.replace(tzinfo=None), "completed_at": datetime.now(UTC).replace(tzinfo=None),
            "status": "success" if returncode == 0 else "error",
            "models_run": count(results, "model", ("success",)), "tests_run": count(results, "test"),
            "metadata": metadata}


def record(settings: Settings, row: dict[str, Any]) -> None:
    import psycopg
    from psycopg.types.json import Jsonb

    with psycopg.connect(connect_timeout=30, **settings.database) as connection:
        connection.execute(
            "INSERT INTO platform.dbt_run_history (run_id, project_name, started_at, completed_at, status, "
            "models_run, tests_run, metadata) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (row["run_id"], row["project_name"], row["started_at"], row["completed_at"], row["status"],
             row["models_run"], row["tests_run"], Jsonb(row["metadata"])))


def main(environ: dict[str, str] | None = None) -> int:
    try:
        settings = Settings.from_environment(dict(os.environ if environ is None else environ))
    except ConfigurationError as error:
        print(f"batch-dbt: configuration error: {error}", file=sys.stderr)
        return 2
    started = datetime.now(UTC)
    returncode, build = dbt(settings, "build")
    _freshness_code, sources = dbt(settings, "source freshness")
    row = run_record(settings, started, returncode, build, sources)
    try:
        record(settings, row)
    except Exception as error:  # psycopg's errors, or a missing driver: the run must not pass unrecorded
        print(f"batch-dbt: the run could not be recorded in platform.dbt_run_history: {error}", file=sys.stderr)
        return 1
    stale = [f"{f['source']}.{f['table']} ({f['status']})" for f in row["metadata"]["freshness"]
             if f["status"] != "pass"]
    print(f"batch-dbt: run {row['run_id']} {row['status']}: {row['models_run']} models built, {row['tests_run']} "
          f"tests run; stale sources: {', '.join(stale) or 'none'}; recorded in platform.dbt_run_history",
          flush=True)
    return returncode


if __name__ == "__main__":
    sys.exit(main())
