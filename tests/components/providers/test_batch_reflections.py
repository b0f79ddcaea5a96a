"""The batch's reflections step (components/lakehouse/batch_reflections.py), run as the CronJob runs it, against the
Dremio fake over TLS, whose catalog answers follow Dremio OSS 25.2.0's CatalogResource: each mart's refresh policy
set on the physical datasets under it (only where it differs), then their reflections' refresh queued, as the dbt
user; a dataset that is missing or not physical fails the step naming it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from components.lakehouse import batch
from components.lakehouse.provider import s3_source
from infra.model.catalog import load_catalog
from tests.support.dremio_server import ApiFailureError, FakeDremio

SCRIPT = batch.SCRIPT_SOURCES / batch.SCRIPT_FILES[batch.REFLECTIONS]
ADMIN, PASSWORD = "platform-admin", "Adm1nPassw0rd0000"
DBT_PASSWORD = "Dbtpassw0rd00000"
SILVER = "dataplatform-dev-silver"


def _call(fake: FakeDremio, method: str, path: str, body: dict, token: str | None = None) -> dict:
    headers = {"authorization": f"_dremio{token}"} if token else {}
    status, answer = fake.handle(method, path, headers, json.dumps(body).encode())
    assert status == 200, answer
    return answer


@pytest.fixture(params=["community", "enterprise"])
def server(request, pki):
    with FakeDremio.start(pki, edition=request.param) as fake:
        _call(fake, "PUT", "/apiv2/bootstrap/firstuser", {
            "userName": ADMIN, "firstName": "platform", "lastName": "admin", "email": "admin@platform.invalid",
            "password": PASSWORD})
        token = _call(fake, "POST", "/apiv2/login", {"userName": ADMIN, "password": PASSWORD})["token"]
        _call(fake, "POST", "/api/v3/user", {"name": "dbt", "firstName": "dbt", "lastName": "dbt",
                                             "email": "dbt@platform.invalid", "password": DBT_PASSWORD}, token)
        # A source whose own policy is every two hours: the datasets inherit it until the step sets theirs.
        _call(fake, "POST", "/api/v3/catalog", {**s3_source("lake_write", "key", [SILVER]),
                                                "accelerationRefreshPeriodMs": 7_200_000,
                                                "accelerationGracePeriodMs": 21_600_000}, token)
        for table in ("int_orders_validated", "stg_postgres__customers"):
            fake.add_dataset("lake_write", SILVER, table)
        fake.requests.clear()
        yield fake


@pytest.fixture
def ca_file(pki, tmp_path) -> str:
    path = tmp_path / "ca.crt"
    path.write_text(pki.ca_pem)
    return str(path)


def step_environment(server, ca_file: str, **overrides: str) -> dict[str, str]:
    """The reflections container's environment as the plan declares it for dev (batch.reflections_environment),
    the password filled in, pointed at the fake."""
    shape = batch.BatchShape(image="runner", dbt_resources=batch.runner_resources("small"), prefix="dataplatform",
                             stack="dev", project="dataplatform", schedule=load_catalog().transformations.schedule,
                             airbyte=batch.AirbyteAccess("https://unused", "platform", ()),
                             run_history=batch.RunHistoryAccess("db", 5432, "platform"),
                             anchors=batch.reflection_anchors(load_catalog(), "dataplatform", "dev"), marts=())
    environment = {item["name"]: item.get("value", DBT_PASSWORD) for item in batch.reflections_environment(shape)}
    environment.update({"DREMIO_URL": server.url, "DREMIO_CA_FILE": ca_file, **overrides})
    return environment


def run_step(environment: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT)], env={"PATH": os.environ["PATH"], **environment},
                          capture_output=True, text=True, timeout=60)


def policy(server, table: str) -> dict:
    _status, answer = server.handle("GET", f"/api/v3/catalog/{server.entity('lake_write', SILVER, table)['id']}",
                                   {"authorization": f"_dremio{next(iter(server.tokens))}"}, b"")
    return answer["accelerationRefreshPolicy"]


def test_the_step_sets_each_marts_refresh_policy_and_queues_the_refresh(server, ca_file):
    assert policy(server, "int_orders_validated")["refreshPeriodMs"] == 7_200_000  # the source's, inherited
    server.requests.clear()
    result = run_step(step_environment(server, ca_file))
    assert result.returncode == 0, result.stderr
    # As the dbt user, and only the calls the step is documented to make.
    assert sorted({(r.method, r.route.pattern) for r in server.requests}) == [
        ("DELETE", "/apiv2/login"), ("GET", "/api/v3/catalog/by-path/{path*}"),
        ("POST", "/api/v3/catalog/{id}/refresh"), ("POST", "/apiv2/login"), ("PUT", "/api/v3/catalog/{id}")]
    (login,) = [r for r in server.requests if r.path == "/apiv2/login" and r.method == "POST"]
    assert login.body["userName"] == "dbt"
    for table in ("int_orders_validated", "stg_postgres__customers"):
        assert policy(server, table) == {"activePolicyType": "PERIOD", "refreshPeriodMs": 3_600_000,
                                         "gracePeriodMs": 10_800_000, "method": "FULL", "neverExpire": False,
                                         "neverRefresh": False}
    assert sorted(server.refreshes) == [["lake_write", SILVER, "int_orders_validated"],
                                        ["lake_write", SILVER, "stg_postgres__customers"]]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert {line["mart"]: line["refreshed"] for line in lines} == {"customers": True, "daily_revenue": True}


def test_a_second_run_changes_no_policy_and_refreshes_again(server, ca_file):
    assert run_step(step_environment(server, ca_file)).returncode == 0
    server.requests.clear()
    assert run_step(step_environment(server, ca_file)).returncode == 0
    assert [r for r in server.requests if r.method == "PUT"] == []
    assert len([r for r in server.requests if r.path.endswith("/refresh")]) == 2


def test_a_dataset_dbt_has_not_built_fails_the_step_naming_it(server, ca_file):
    server.catalog.pop(server.entity("lake_write", SILVER, "stg_postgres__customers")["id"])
    result = run_step(step_environment(server, ca_file))
    assert result.returncode == 1
    assert f"lake_write.{SILVER}.stg_postgres__customers: GET /api/v3/catalog/by-path/" in result.stderr
    assert "HTTP 404" in result.stderr
    lines = {json.loads(line)["mart"]: json.loads(line) for line in result.stdout.splitlines()
             if line.startswith("{")}
    assert lines["customers"]["refreshed"] is False and lines["daily_revenue"]["refreshed"] is True


def test_the_fake_refuses_a_dataset_body_dremio_would_not_bind(server):
    token = next(iter(server.tokens), None) or _call(server, "POST", "/apiv2/login",
                                                     {"userName": "dbt", "password": DBT_PASSWORD})["token"]
    found = server.entity("lake_write", SILVER, "int_orders_validated")
    body = {"entityType": "dataset", "id": found["id"], "type": "PHYSICAL_DATASET", "path": found["path"],
            "tag": found["tag"], "format": found["format"], "fields": []}
    with pytest.raises(ApiFailureError) as refused:
        server.handle("PUT", f"/api/v3/catalog/{found['id']}", {"authorization": f"_dremio{token}"},
                      json.dumps(body).encode())
    assert (refused.value.status, str(refused.value)) == (
        400, 'Unrecognized field "fields" (class Dataset), not marked as ignorable')


def test_a_misconfigured_step_exits_2(server, ca_file):
    result = run_step(step_environment(server, ca_file, REFLECTION_ANCHORS='{"customers": {"datasets": []}}'))
    assert result.returncode == 2
    assert "REFLECTION_ANCHORS must map each mart" in result.stderr
    assert server.requests == []
