"""Record a pipeline run in `platform.dbt_run_history` (migrations/V002__dbt_run_history.sql) when
DBT_RUN_HISTORY_DSN names a PostgreSQL database; the migrations are applied first (they are idempotent)."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import datetime

from infra import migrations

DSN_VARIABLE = "DBT_RUN_HISTORY_DSN"


@dataclass(frozen=True)
class RunRecord:
    project_name: str
    started_at: datetime
    completed_at: datetime
    status: str
    models_run: int
    tests_run: int
    metadata: dict
    run_id: uuid.UUID | None = None


def configured_dsn() -> str | None:
    return os.environ.get(DSN_VARIABLE) or None


def record(conninfo: str, run: RunRecord) -> uuid.UUID:
    """Insert one run; returns its run id (a fresh UUID unless the record carries one)."""
    import psycopg
    from psycopg.types.json import Jsonb

    migrations.apply(conninfo)
    run_id = run.run_id or uuid.uuid4()
    with psycopg.connect(conninfo) as conn:
        conn.execute(
            "INSERT INTO platform.dbt_run_history (run_id, project_name, started_at, completed_at, status, "
            "models_run, tests_run, metadata) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (run_id, run.project_name, run.started_at, run.completed_at, run.status, run.models_run,
             run.tests_run, Jsonb(run.metadata)))
    return run_id
