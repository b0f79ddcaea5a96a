"""The batch's dbt step (components/lakehouse/batch_dbt.py), run as its container runs it but with the dbt
virtualenv's dbt on the local target: `dbt build` and `dbt source freshness` print JSON events (the freshness results
as Q018), and the run lands in `platform.dbt_run_history` of a real PostgreSQL over verified TLS, as the `dbt` login
the metadata layer creates, with dbt's invocation id and the syncs step's results; a failed build is recorded as
such, and a run that cannot be recorded fails the step."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import psycopg
import pytest
from support import tls
from support.dbt_workspace import DBT_PYTHON, REPO_ROOT, Workspace
from support.postgres import PostgresServer, tls_settings

from infra import migrations

pytestmark = pytest.mark.integration
SCRIPT = REPO_ROOT / "components" / "lakehouse" / "batch_dbt.py"
SYNCS = {"syncs": [{"batch_step": "syncs", "sync": "succeeded", "connection": "postgres-to-bronze", "job_id": 7,
                    "status": "succeeded", "records_synced": 1200, "at": 1764720000.5}]}


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> tls.TestPki:
    return tls.make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def server(pki) -> Iterator[PostgresServer]:
    """PostgreSQL with TLS on (the test CA's certificate for 127.0.0.1), the migrations applied, and the metadata
    layer's `dbt` login: INSERT and SELECT on the run history, nothing else."""
    with tls_settings(pki) as (settings, _folder), PostgresServer.start(settings) as started:
        platform = started.create_database("platform")
        migrations.apply(platform)
        started.psql("CREATE ROLE dbt LOGIN; GRANT USAGE ON SCHEMA platform TO dbt; "
                     "GRANT SELECT, INSERT ON platform.dbt_run_history TO dbt", database="platform")
        yield started


def run_step(workspace: Workspace, server: PostgresServer, ca_pem: str,
             **overrides: str) -> subprocess.CompletedProcess:
    ca = workspace.root / "ca.crt"
    ca.write_text(ca_pem)
    syncs = workspace.root / "syncs.json"
    syncs.write_text(json.dumps(SYNCS))
    environment = {**workspace.env, "DBT_TARGET": "local", "DBT_PROJECT_NAME": "dataplatform",
                   "DBT_EXECUTABLE": str(DBT_PYTHON.with_name("dbt")), "DBT_PROJECT_DIR": str(REPO_ROOT / "dbt"),
                   "DBT_PROFILES_DIR": str(REPO_ROOT / "dbt"), "RUN_HISTORY_HOST": server.host,
                   "RUN_HISTORY_PORT": str(server.port), "RUN_HISTORY_DATABASE": "platform",
                   "RUN_HISTORY_USER": "dbt", "RUN_HISTORY_PASSWORD": "trusted-locally",
                   "RUN_HISTORY_SSLROOTCERT": str(ca), "BATCH_RESULTS_FILE": str(syncs), **overrides}
    return subprocess.run([str(DBT_PYTHON), str(SCRIPT)], cwd=REPO_ROOT, env=environment, capture_output=True,
                          text=True, timeout=900)


def events(result: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"data"')
            or line.startswith('{"info"')]


def history(server: PostgresServer) -> list[tuple]:
    with psycopg.connect(server.dsn("platform")) as connection:
        return connection.execute("SELECT run_id::text, project_name, status, models_run, tests_run, metadata "
                                  "FROM platform.dbt_run_history ORDER BY started_at").fetchall()


def test_a_build_is_logged_as_json_and_recorded_over_verified_tls(workspace, server, pki):
    workspace.generate(2000)
    before = len(history(server))
    result = run_step(workspace, server, pki.ca_pem)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    logged = events(result)
    assert logged and all(event["info"]["code"] for event in logged)
    invocations = {event["info"]["invocation_id"] for event in logged}
    assert len(invocations) == 2  # the build's and the freshness check's
    freshness = [event["data"] for event in logged if event["info"]["code"] == "Q018"]
    assert {(f["source_name"], f["table_name"]) for f in freshness} >= {("postgres", "customers"),
                                                                         ("postgres", "orders")}
    assert all(f["status"] in ("pass", "warn", "error", "runtime error") for f in freshness)
    runs = history(server)[before:]
    (run_id, project, status, models_run, tests_run, metadata) = runs[-1]
    assert run_id in invocations
    assert (project, status) == ("dataplatform", "success")
    assert models_run > 0 and tests_run > 0
    assert metadata["syncs"] == SYNCS["syncs"]
    assert metadata["target"] == "local" and metadata["failures"] == []
    assert {(f["source"], f["table"]) for f in metadata["freshness"]} >= {("postgres", "orders")}
    assert f"batch-dbt: run {run_id} success" in result.stdout


def test_a_failed_build_is_recorded_and_fails_the_step(workspace, server, pki):
    before = len(history(server))
    result = run_step(workspace, server, pki.ca_pem)  # no bronze data: the build's on-run-start check fails
    assert result.returncode != 0
    (_, _, status, models_run, _, metadata) = history(server)[before]
    assert (status, models_run, metadata["dbt_exit_code"]) == ("error", 0, result.returncode)


def test_a_run_that_cannot_be_recorded_fails_the_step(workspace, server, tmp_path):
    other = tls.make_pki(tmp_path / "other")
    before = len(history(server))
    result = run_step(workspace, server, other.ca_pem)
    assert result.returncode == 1
    assert "the run could not be recorded in platform.dbt_run_history" in result.stderr
    assert "certificate verify failed" in result.stderr
    assert len(history(server)) == before


def test_a_misconfigured_step_runs_nothing(workspace, server, pki):
    result = run_step(workspace, server, pki.ca_pem, RUN_HISTORY_PORT="fivefourthreetwo")
    assert result.returncode == 2
    assert "RUN_HISTORY_PORT must be a port number" in result.stderr
    assert events(result) == []
