"""The end-to-end smoke test (infra/e2e/smoke.py) against stand-ins for everything it talks to: a real PostgreSQL
as the source, Airbyte's API (tests/support's fake plus its jobs), a kubectl that runs the dbt runner's Job, an
Arrow Flight server with TLS and basic authentication (pyarrow, in the dbt virtualenv, the only one that has it),
and Superset's API. The whole command runs as the e2e workflow runs it; failures name their step."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import yaml

from infra.e2e import smoke
from tests.infra.e2e_fakes import FLIGHT_SERVER, KUBECTL, FakeAirbyteJobs, FakeSuperset
from tests.support import tls
from tests.support.airbyte_server import CLIENT
from tests.support.postgres import PostgresServer
from tests.support.tls import make_pki

ROOT = Path(__file__).resolve().parents[2]
DBT_PYTHON = ROOT / ".venv-dbt" / "bin" / "python"
FLIGHT_USER = ("dbt", "dremio-password-for-tests")


@dataclass
class Platform:
    env: dict[str, str]
    source: PostgresServer
    airbyte: FakeAirbyteJobs
    superset: FakeSuperset
    kubectl_state: Path


def dbt_python() -> Path:
    if not DBT_PYTHON.exists():
        message = "the dbt virtualenv (.venv-dbt, `make dbt-setup`) holds pyarrow for the Flight step"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return DBT_PYTHON


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tls.TestPki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def source_server() -> Iterator[PostgresServer]:
    with PostgresServer.start() as server:
        server.create_database("shop")
        yield server


@pytest.fixture
def platform(pki: tls.TestPki, source_server: PostgresServer, tmp_path: Path) -> Iterator[Platform]:
    ca = tmp_path / "ca.pem"
    ca.write_text(pki.ca_pem)
    kubectl = tmp_path / "kubectl.py"
    kubectl.write_text(KUBECTL)
    with FakeAirbyteJobs.start(pki) as airbyte, FakeSuperset.start(pki, {"Gold marts": 2, "Other": 1}) as superset:
        for key, name in (("c-postgres", smoke.CONNECTION), ("c-mysql", "mysql-to-bronze")):
            # A connection as Airbyte answers it (the fake checks its answers against Airbyte's API definition).
            airbyte.state.connections[key] = {
                "connectionId": key, "name": name, "workspaceId": "w1", "sourceId": "s1", "destinationId": "d1",
                "status": "active", "schedule": {"scheduleType": "manual"}, "configurations": {"streams": []},
                "createdAt": 1, "tags": []}
        env = {
            "SMOKE_SOURCE_DSN": source_server.dsn("shop"),
            "SMOKE_CA_FILE": str(ca),
            "SMOKE_AIRBYTE_URL": airbyte.url,
            "SMOKE_AIRBYTE_CLIENT_ID": CLIENT[0],
            "SMOKE_AIRBYTE_CLIENT_SECRET": CLIENT[1],
            "SMOKE_SUPERSET_URL": superset.url,
            "SMOKE_SUPERSET_USER": FakeSuperset.USER[0],
            "SMOKE_SUPERSET_PASSWORD": FakeSuperset.USER[1],
            "SMOKE_DREMIO_USER": FLIGHT_USER[0],
            "SMOKE_DREMIO_PASSWORD": FLIGHT_USER[1],
            "SMOKE_KUBECTL": f"{sys.executable} {kubectl}",
            "FAKE_KUBECTL_STATE": str(tmp_path / "kubectl.json"),
            "SMOKE_POLL": "0.01",
            "SMOKE_TIMEOUT": "5",
        }
        yield Platform(env, source_server, airbyte, superset, tmp_path / "kubectl.json")


@pytest.fixture
def flight(pki: tls.TestPki) -> Iterator[str]:
    server = subprocess.Popen([str(dbt_python()), "-c", FLIGHT_SERVER, str(pki.cert_file), str(pki.key_file),
                               *FLIGHT_USER, smoke.GOLD_MART], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = server.stdout.readline().strip()
        assert port.isdigit(), "the Flight server did not start"
        yield f"grpc+tls://localhost:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def run_cli(env: dict[str, str], *args: str, python: Path | None = None) -> subprocess.CompletedProcess:
    """The command as the workflow runs it; the dbt virtualenv's Python has pyarrow and psycopg."""
    environment = {**{key: value for key, value in os.environ.items() if not key.startswith("SMOKE_")},
                   **env, "PYTHONPATH": str(ROOT)}
    return subprocess.run([str(python or dbt_python()), "-m", "infra.e2e.smoke", *args], cwd=ROOT,
                          env=environment, capture_output=True, text=True, timeout=300)


def summary_of(output: str) -> dict:
    start = output.index("\n{") + 1
    end = output.index("\n}", start) + 2
    return json.loads(output[start:end])


def test_the_whole_smoke_test_passes_through_the_platform(platform: Platform, flight: str, tmp_path: Path) -> None:
    summary_file = tmp_path / "smoke.json"
    result = run_cli({**platform.env, "SMOKE_FLIGHT_URI": flight}, "--summary", str(summary_file))
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(summary_file.read_text())
    assert summary == summary_of(result.stdout)
    assert (summary["ok"], summary["failed"]) == (True, None)
    assert [step["step"] for step in summary["steps"]] == list(smoke.STEPS)
    details = {step["step"]: step["details"] for step in summary["steps"]}
    assert details["sync"] == {"connection": "postgres-to-bronze", "job": 1, "status": "succeeded",
                               "rowsSynced": 6, "bytesSynced": 1024}
    assert details["query"] == {"mart": smoke.GOLD_MART, "rows": 2, "columns": ["order_date", "revenue"]}
    assert details["dashboard"] == {"dashboard": "Gold marts", "id": 1, "charts": 2}
    assert details["batch"]["job"] == f"batch-smoke-{summary['run']}"
    # One progress line before and after each step, numbered.
    progress = [line for line in result.stdout.splitlines() if line.startswith("smoke: [")]
    assert [line.split(" ")[1:3] for line in progress] == [
        [f"[{number}/5]", step] for number, step in enumerate(smoke.STEPS, 1) for _ in range(2)]
    assert result.stdout.rstrip().endswith("smoke: passed (5 steps)")
    # The rows are in the source, tagged with the run; the sync ran the postgres connection, not another one.
    with psycopg.connect(platform.source.dsn("shop")) as connection:
        names = [row[0] for row in connection.execute("select name from customers order by customer_id")]
    assert sum(f"Smoke {summary['run']}" in name for name in names) == smoke.SAMPLE_CUSTOMERS
    assert [job["connectionId"] for job in platform.airbyte.jobs.values()] == ["c-postgres"]
    calls = json.loads(platform.kubectl_state.read_text())["calls"]
    assert calls[0] == ["--namespace", "dp-lakehouse", "create", "job", details["batch"]["job"],
                        "--from=cronjob/batch"]


def test_a_failed_sync_stops_the_run_and_names_its_step(platform: Platform) -> None:
    platform.airbyte.outcome = "failed"
    lines: list[str] = []
    summary = smoke.run(smoke.Settings(platform.env, sleep=lambda _: None), out=lines.append)
    assert (summary["ok"], summary["failed"]) == (False, "sync")
    assert [step["step"] for step in summary["steps"]] == ["source-rows", "sync"]
    assert summary["steps"][1]["error"] == "sync job 1 of postgres-to-bronze ended failed"
    assert lines[-1] == "smoke: [2/5] sync FAILED: sync job 1 of postgres-to-bronze ended failed"
    assert not platform.kubectl_state.exists(), "no batch after a failed sync"


def test_a_failed_batch_shows_the_runners_log(platform: Platform) -> None:
    env = {**platform.env, "FAKE_KUBECTL_OUTCOME": "Failed"}
    summary = smoke.run(smoke.Settings(env, sleep=lambda _: None), ("batch",), out=lambda _: None)
    assert summary["failed"] == "batch"
    assert re.fullmatch(r"job batch-smoke-\w+ failed; its last log lines:\n"
                        r"dbt: Completed with 1 error and 0 warnings", summary["steps"][0]["error"])


def test_a_sync_that_never_ends_times_out(platform: Platform) -> None:
    platform.airbyte.outcome = "running"
    summary = smoke.run(smoke.Settings({**platform.env, "SMOKE_TIMEOUT": "0.05"}, sleep=lambda _: None), ("sync",),
                        out=lambda _: None)
    assert summary["steps"][0]["error"] == "sync job 1 still running after the timeout"


def test_a_missing_dashboard_and_a_wrong_ca_fail(platform: Platform, tmp_path: Path) -> None:
    platform.superset.dashboards.pop("Gold marts")
    summary = smoke.run(smoke.Settings(platform.env), ("dashboard",), out=lambda _: None)
    assert summary["steps"][0]["error"] == "Superset lists no dashboard 'Gold marts' (0 listed)"
    other = make_pki(tmp_path / "other")
    (tmp_path / "other.pem").write_text(other.ca_pem)
    summary = smoke.run(smoke.Settings({**platform.env, "SMOKE_CA_FILE": str(tmp_path / "other.pem")}),
                        ("dashboard",), out=lambda _: None)
    assert "CERTIFICATE_VERIFY_FAILED" in summary["steps"][0]["error"]


def test_wrong_flight_credentials_fail_the_query(platform: Platform, flight: str) -> None:
    result = run_cli({**platform.env, "SMOKE_FLIGHT_URI": flight, "SMOKE_DREMIO_PASSWORD": "wrong"},
                     "--only", "query")
    assert result.returncode == 1
    summary = summary_of(result.stdout)
    assert summary["failed"] == "query" and "invalid credentials" in summary["steps"][0]["error"]
    assert "smoke: FAILED at query" in result.stderr


def test_a_missing_setting_exits_2_naming_it(platform: Platform) -> None:
    env = {key: value for key, value in platform.env.items() if key != "SMOKE_SUPERSET_URL"}
    result = run_cli(env, "--only", "dashboard", python=Path(sys.executable))
    assert result.returncode == 2
    assert summary_of(result.stdout)["steps"][0]["error"] == "setting SMOKE_SUPERSET_URL is not set"


def test_query_without_pyarrow_says_how_to_install_it(platform: Platform) -> None:
    """The program's virtualenv has no pyarrow: the step says what to install instead of a traceback."""
    pytest.importorskip("psycopg")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("this interpreter has pyarrow")
    summary = smoke.run(smoke.Settings({**platform.env, "SMOKE_FLIGHT_URI": "grpc+tls://localhost:1"}), ("query",),
                        out=lambda _: None)
    assert summary["steps"][0]["error"] == "pyarrow is not installed (pip install -r infra/e2e/requirements.txt)"


def test_names_are_the_platforms() -> None:
    """The smoke test's names are the ones the program gives: the namespace, the runner, the mart, the dashboard,
    the connection of the catalog's PostgreSQL source and the columns its staging models read."""
    from components.lakehouse import batch as lakehouse
    from components.presentation import spec as presentation
    from infra.model.catalog import load_catalog
    from infra.model.naming import namespace_name

    assert namespace_name("lakehouse") == smoke.LAKEHOUSE_NAMESPACE
    assert smoke.BATCH == lakehouse.BATCH
    assert smoke.DASHBOARD in presentation.bundle_dashboards()
    schema, _, table = smoke.GOLD_MART.rpartition(".")
    dataset = yaml.safe_load((ROOT / "components/presentation/assets/datasets" / f"{table}.yaml").read_text())
    assert (dataset["schema"], dataset["table_name"]) == (schema, table)
    catalog = load_catalog(ROOT / "infra" / "dataflow.yaml")
    source = next(item for item in catalog.sources if item.name == smoke.SOURCE)
    assert source.kind == "postgres"
    from components.ingestion.spec import connection_name

    assert connection_name(source.name) == smoke.CONNECTION
    created = dict(re.findall(r"create table if not exists (\w+) \((.*?)\);", smoke.SOURCE_TABLES, re.DOTALL))
    assert set(created) == {stream.name for stream in source.streams}
    for stream in source.streams:
        # What staging reads of a stream: the macro both its batch model and its landed rows select.
        macros = (ROOT / "dbt/macros" / f"{source.name}.sql").read_text()
        assert f"{{{{ {source.name}_{stream.name}_renamed() }}}}" in (
            ROOT / "dbt/models/staging" / source.name / f"stg_{source.name}__{stream.name}.sql").read_text()
        read = re.search(rf"macro {source.name}_{stream.name}_renamed\(\).*?%\}}(.*?)\{{\{{ airbyte_change_columns",
                         macros, re.DOTALL)
        assert read is not None
        columns = set(re.findall(r"^\s+(?:\w+\()*([A-Za-z_]\w*)", read.group(1), re.MULTILINE))
        defined = {line.split()[0] for line in created[stream.name].split(",") if line.strip()}
        assert columns and columns <= defined, (stream.name, columns - defined)


def test_reach_forwards_every_platform_service_by_its_own_address() -> None:
    """infra/e2e/reach.py: each ClusterIP Service of a dp-* namespace gets its own loopback address and a hosts
    line with its cluster DNS name; headless Services, other namespaces and UDP-only ports are left out."""
    from infra.e2e import reach

    def service(namespace: str, name: str, ports: list[tuple[int, str]], cluster_ip: str = "10.96.0.10") -> dict:
        return {"metadata": {"namespace": namespace, "name": name},
                "spec": {"clusterIP": cluster_ip, "ports": [{"port": port, "protocol": protocol}
                                                            for port, protocol in ports]}}

    listed = {"items": [
        service("dp-ingestion", "airbyte-api", [(8443, "TCP")]),
        service("dp-lakehouse", "dremio-client", [(9047, "TCP"), (32010, "TCP"), (31010, "TCP")]),
        service("dp-lakehouse", "dremio-cluster-pod", [(45678, "TCP")], cluster_ip="None"),
        service("kube-system", "kube-dns", [(53, "TCP")]),
        service("dp-logs", "syslog", [(514, "UDP")]),
    ]}
    found = reach.forwards(listed)
    assert [(item.host, item.ports) for item in found] == [
        ("airbyte-api.dp-ingestion.svc.cluster.local", (8443,)),
        ("dremio-client.dp-lakehouse.svc.cluster.local", (9047, 31010, 32010))]
    assert len({item.address for item in found}) == 2
    assert all(item.address.startswith("127.42.") for item in found)
    assert found[0].command() == ["kubectl", "port-forward", "--namespace", "dp-ingestion", "--address",
                                  found[0].address, "svc/airbyte-api", "8443"]
    hosts = reach.hosts_text("127.0.0.1 localhost\n", found)
    assert hosts.splitlines() == ["127.0.0.1 localhost",
                                  f"{found[0].address} airbyte-api.dp-ingestion.svc.cluster.local {reach.MARK}",
                                  f"{found[1].address} dremio-client.dp-lakehouse.svc.cluster.local {reach.MARK}"]
    assert reach.hosts_text(hosts, found[1:]).count(reach.MARK) == 1
    assert reach.hosts_text(hosts, []) == "127.0.0.1 localhost\n"
