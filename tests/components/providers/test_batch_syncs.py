"""The batch's syncs step (components/lakehouse/batch_syncs.py), run as the CronJob runs it, against the Airbyte fake
over TLS, which holds every request and answer to Airbyte 2.1's OpenAPI document: one sync job per connection the
marts read, polled until it ends; a failure names each connection that failed, in stderr and in one JSON line per
connection that the log shipper turns into the per-connection series."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from components.ingestion.component import batch_connections
from components.lakehouse import batch
from infra.model.catalog import load_catalog
from tests.support.airbyte_server import API_PREFIX, CLIENT, FakeAirbyte
from tests.support.tls import make_pki

SCRIPT = batch.SCRIPT_SOURCES / batch.SCRIPT_FILES[batch.SYNCS]
WORKSPACE = "platform"


@pytest.fixture
def server(pki):
    with FakeAirbyte.start(pki) as fake:
        workspace = str(uuid.uuid4())
        fake.state.workspaces[workspace] = {"workspaceId": workspace, "name": WORKSPACE, "dataResidency": "auto",
                                            "notifications": {}}
        for name in ("postgres-to-bronze", "mysql-to-bronze"):
            connection = str(uuid.uuid4())
            # A connection as the fake stores one the provider created (FakeAirbyte._create).
            fake.state.connections[connection] = {
                "connectionId": connection, "name": name, "workspaceId": workspace, "sourceId": str(uuid.uuid4()),
                "destinationId": str(uuid.uuid4()), "createdAt": 1, "tags": [], "namespaceDefinition": "destination",
                "nonBreakingSchemaUpdatesBehavior": "propagate_columns", "status": "active", "prefix": "",
                "schedule": {"scheduleType": "manual"}, "configurations": {"streams": []}}
        yield fake


@pytest.fixture
def ca_file(pki, tmp_path) -> str:
    path = tmp_path / "ca.crt"
    path.write_text(pki.ca_pem)
    return str(path)


def step_environment(server, ca_file: str, tmp_path, **overrides: str) -> dict[str, str]:
    """The syncs container's environment as the plan declares it (batch.syncs_environment), the Secret's values
    filled in, pointed at the fake."""
    shape = batch.BatchShape(image="runner", dbt_resources=batch.runner_resources("small"), prefix="dataplatform",
                             stack="dev", project="dataplatform", schedule=load_catalog().transformations.schedule,
                             airbyte=batch.AirbyteAccess("https://unused", WORKSPACE,
                                                         batch_connections(load_catalog())),
                             run_history=batch.RunHistoryAccess("db", 5432, "platform"), anchors={}, marts=())
    environment = {}
    for item in batch.syncs_environment(shape):
        if "value" in item:
            environment[item["name"]] = item["value"]
        else:
            environment[item["name"]] = dict(zip((batch.AIRBYTE_CLIENT_ID_KEY, batch.AIRBYTE_CLIENT_SECRET_KEY),
                                                 CLIENT, strict=True))[item["valueFrom"]["secretKeyRef"]["key"]]
    environment.update({"AIRBYTE_URL": server.url, "AIRBYTE_CA_FILE": ca_file, "POLL_SECONDS": "0.05",
                        "BATCH_RESULTS_FILE": str(tmp_path / "syncs.json"), **overrides})
    return environment


def run_step(environment: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT)], env={"PATH": os.environ["PATH"], **environment},
                          capture_output=True, text=True, timeout=60)


def records(result: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def test_the_step_syncs_the_marts_connections_and_waits_for_them(server, ca_file, tmp_path):
    server.sync_statuses["postgres-to-bronze"] = ["pending", "running", "running", "succeeded"]
    result = run_step(step_environment(server, ca_file, tmp_path))
    assert result.returncode == 0, result.stderr
    (line,) = records(result)
    assert {key: line[key] for key in ("batch_step", "sync", "connection", "job_id", "status", "level")} == {
        "batch_step": "syncs", "sync": "succeeded", "connection": "postgres-to-bronze", "job_id": 1,
        "status": "succeeded", "level": "INFO"}
    assert line["records_synced"] == 1200 and isinstance(line["at"], float)
    # One job, of the connection the marts read, of type sync; the other connection keeps its own schedule.
    started = [r for r in server.requests if r.method == "POST" and r.path == f"{API_PREFIX}/jobs"]
    (connection,) = [c for c in server.state.connections.values() if c["name"] == "postgres-to-bronze"]
    assert [r.body for r in started] == [{"connectionId": connection["connectionId"], "jobType": "sync"}]
    polls = [r for r in server.requests if r.method == "GET" and r.path == f"{API_PREFIX}/jobs/1"]
    assert len(polls) == 4
    assert json.loads((tmp_path / "syncs.json").read_text())["syncs"] == [line]


def test_a_failed_sync_fails_the_step_naming_the_connection(server, ca_file, tmp_path):
    server.sync_statuses["postgres-to-bronze"] = ["running", "incomplete", "running", "failed"]
    server.sync_statuses["mysql-to-bronze"] = ["succeeded"]
    result = run_step(step_environment(server, ca_file, tmp_path,
                                       BATCH_CONNECTIONS="postgres-to-bronze,mysql-to-bronze"))
    assert result.returncode == 1
    assert "1 of 2 syncs failed: postgres-to-bronze (failed, job 1)" in result.stderr
    outcome = {line["connection"]: (line["sync"], line["level"]) for line in records(result)}
    assert outcome == {"postgres-to-bronze": ("failed", "ERROR"), "mysql-to-bronze": ("succeeded", "INFO")}


def test_a_missing_connection_and_a_refused_start_are_each_named(server, ca_file, tmp_path):
    server.fail("POST /jobs", status=500)
    result = run_step(step_environment(server, ca_file, tmp_path, BATCH_CONNECTIONS="postgres-to-bronze,gone"))
    assert result.returncode == 1
    assert "2 of 2 syncs failed:" in result.stderr
    assert "postgres-to-bronze (not started: the sync was not started: POST /jobs: HTTP 500" in result.stderr
    assert "gone (not started: no connection named 'gone' in workspace 'platform')" in result.stderr
    assert [line["sync"] for line in records(result)] == ["failed", "failed"]


def test_a_sync_already_running_is_waited_for_not_started_twice(server, ca_file, tmp_path):
    (connection,) = [c for c in server.state.connections.values() if c["name"] == "postgres-to-bronze"]
    server.sync_statuses["postgres-to-bronze"] = ["running", "succeeded"]
    status, job = server.jobs("POST", None, {}, {"connectionId": connection["connectionId"], "jobType": "sync"})
    assert status == 200
    result = run_step(step_environment(server, ca_file, tmp_path))
    assert result.returncode == 0, result.stderr
    assert records(result)[0]["job_id"] == job["jobId"]
    assert len(server.state.jobs) == 1


def test_a_sync_past_the_deadline_is_cancelled_and_fails(server, ca_file, tmp_path):
    server.sync_statuses["postgres-to-bronze"] = ["running"]
    result = run_step(step_environment(server, ca_file, tmp_path, TIMEOUT_SECONDS="0.3"))
    assert result.returncode == 1
    assert "postgres-to-bronze (timed out, job 1: still running after 0.3 s; cancelled)" in result.stderr
    assert server.state.jobs[1]["status"] == "cancelled"
    assert [r.method for r in server.requests if r.path == f"{API_PREFIX}/jobs/1"][-1] == "DELETE"


def test_an_expired_token_is_taken_again(server, ca_file, tmp_path):
    server.sync_statuses["postgres-to-bronze"] = ["running", "running", "succeeded"]
    server.fail("GET /jobs", status=401)
    result = run_step(step_environment(server, ca_file, tmp_path))
    assert result.returncode == 0, result.stderr
    tokens = [r for r in server.requests if r.path == f"{API_PREFIX}/applications/token"]
    assert len(tokens) == 2


def test_tls_is_verified_against_the_given_ca(server, tmp_path, pki):
    other = tmp_path / "other"
    wrong = tmp_path / "wrong.crt"
    wrong.write_text(make_pki(other).ca_pem)
    result = run_step(step_environment(server, str(wrong), tmp_path))
    assert result.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in result.stderr
    assert not [r for r in server.requests if r.path == f"{API_PREFIX}/jobs"]


@pytest.mark.parametrize(("overrides", "message"), [
    ({"AIRBYTE_URL": "http://127.0.0.1:1"}, "AIRBYTE_URL must be an https:// URL"),
    ({"BATCH_CONNECTIONS": "a,a"}, "BATCH_CONNECTIONS must name each connection once"),
    ({"AIRBYTE_CLIENT_SECRET": ""}, "missing environment variable(s): AIRBYTE_CLIENT_SECRET"),
    ({"POLL_SECONDS": "0"}, "POLL_SECONDS must be a positive number of seconds"),
])
def test_a_misconfigured_step_exits_2_before_any_call(server, ca_file, tmp_path, overrides, message):
    result = run_step(step_environment(server, ca_file, tmp_path, **overrides))
    assert result.returncode == 2
    assert message in result.stderr
    assert server.requests == []
