"""The batch's last step, images/dbt-runner/import_bundle.py, against a real Superset served over https with
a throwaway CA: the importer the presentation layer creates (its role and user through the providers) imports the
bundle, twice, onto the provider's connection, and warms each mart's charts; every mart gets its dataset and its
chart on the dashboard, and each chart's saved query runs. A wrong CA, a wrong password and a user without the
import permission fail with a message that says which call failed and why."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from components.kit.rest import Retry
from components.lakehouse import batch
from components.presentation import spec
from components.presentation.provider import (
    MASKED_PASSWORD,
    DatabaseProvider,
    RoleProvider,
    SupersetClient,
    UserProvider,
)
from infra.model.catalog import load_catalog
from tests.support.postgres import PostgresServer
from tests.support.superset import SupersetServer
from tests.support.tls import make_pki

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SCRIPT = Path(__file__).resolve().parents[2] / "images" / "dbt-runner" / "import_bundle.py"
IMPORTER_PASSWORD = "importer-password-for-tests"
# The batch's dashboards step as the dev plan declares it (its environment; the Secret's values filled in below).
SHAPE = batch.BatchShape(image="runner", dbt_resources=batch.runner_resources("small"), prefix="dataplatform",
                         stack="dev", project="dataplatform", schedule=load_catalog().transformations.schedule,
                         airbyte=batch.AirbyteAccess("https://unused", "platform", ()),
                         run_history=batch.RunHistoryAccess("db", 5432, "platform"), anchors={},
                         marts=tuple(mart.name for mart in load_catalog().marts))
ROWS = {
    "daily_revenue": "(DATE '2026-01-01', 120.50, 3), (DATE '2026-01-02', 80.00, 2)",
    "customers": "(1, 'Ada', 'ada@example.com', 3, 200.50, 66.83, DATE '2025-12-01', DATE '2026-01-02', 32)",
}
TYPES = {"date": "date", "days": "int", "orders": "int", "count": "int", "value": "numeric", "revenue": "numeric",
         "id": "int"}


def column_type(name: str) -> str:
    return next((kind for suffix, kind in TYPES.items() if name.endswith(suffix)), "text")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def postgres():
    with PostgresServer.start() as server:
        server.create_database("analytics")
        statements = ["CREATE SCHEMA gold"]
        for name, dataset in spec.bundle_datasets().items():
            columns = [column["column_name"] for column in dataset["columns"]]
            statements.append(f"CREATE TABLE gold.{name} ({', '.join(f'{c} {column_type(c)}' for c in columns)})")
            statements.append(f"INSERT INTO gold.{name} VALUES {ROWS[name]}")
        server.psql("; ".join(statements), database="analytics")
        yield server


@pytest.fixture(scope="module")
def superset(tmp_path_factory, pki):
    with SupersetServer.start(tmp_path_factory.mktemp("superset"), pki=pki) as server:
        yield server


def admin(superset) -> dict:
    return {"url": superset.url, "username": superset.admin[0], "password": superset.admin[1],
            "ca_pem": superset.ca_pem}


@pytest.fixture(scope="module")
def importer(superset, postgres):
    """What Presentation declares before the runner's first import: the connection under the bundle's uuid, the
    importer's role and user."""
    retry = Retry(sleep=lambda _s: None)
    DatabaseProvider(retry).create({
        "connection": admin(superset), "name": spec.DATABASE_NAME, "uri": uri(postgres, with_mask=False),
        "password": "", "uuid": spec.bundle_database()["uuid"]})
    RoleProvider(retry).create({"connection": admin(superset), "name": spec.IMPORTER_ROLE,
                                "permissions": spec.importer_permissions()})
    props = {"connection": admin(superset), "name": spec.IMPORTER_USER, "password": IMPORTER_PASSWORD,
             "roles": [spec.IMPORTER_ROLE], "email": "importer@platform.invalid", "first_name": "Bundle",
             "last_name": "Importer"}
    created = UserProvider(retry).create(props)
    return props, created


def uri(postgres, with_mask: bool = True) -> str:
    login = f"postgres:{MASKED_PASSWORD}" if with_mask else "postgres"
    return f"postgresql://{login}@127.0.0.1:{postgres.port}/analytics"


def run_import(tmp_path: Path, superset, postgres, **overrides: str) -> subprocess.CompletedProcess:
    bundle = tmp_path / spec.BUNDLE_FILE
    bundle.write_bytes(spec.bundle_zip(database_uri=uri(postgres), schema="gold"))
    ca = tmp_path / "ca.crt"
    ca.write_text(superset.ca_pem)
    environment = {item["name"]: item.get("value") for item in batch.dashboards_environment(SHAPE)}
    environment.update({"SUPERSET_URL": superset.url, "SUPERSET_CA_FILE": str(ca), "BUNDLE_FILE": str(bundle),
                        "SUPERSET_USERNAME": spec.IMPORTER_USER, "SUPERSET_PASSWORD": IMPORTER_PASSWORD,
                        "BUNDLE_DATABASE_PASSWORD": "unused-by-trust-auth", **overrides})
    return subprocess.run([sys.executable, str(SCRIPT)], env={"PATH": os.environ["PATH"], **environment},
                          capture_output=True, text=True, timeout=180)


def test_the_importer_imports_the_bundle_twice_with_a_chart_per_mart(tmp_path, superset, postgres, importer):
    for attempt in (1, 2):
        result = run_import(tmp_path, superset, postgres)
        assert result.returncode == 0, (attempt, result.stderr)
        assert result.stdout.startswith(f"superset import: {spec.BUNDLE_FILE} (2 charts, 1 dashboards, "
                                        "1 databases, 2 datasets) into https://127.0.0.1:"), result.stdout
        assert f"as {spec.IMPORTER_USER}: OK in " in result.stdout
        # Then every mart's chart runs once through Superset's warm-up, as the importer.
        assert "superset warm-up: 2 charts of customers, daily_revenue warmed in " in result.stdout, result.stdout
    client = SupersetClient(admin(superset))
    marts = sorted(mart.name for mart in load_catalog().marts)
    datasets = {d["table_name"]: d for d in client.list("/dataset/")}
    assert sorted(datasets) == marts
    assert len([d for d in client.list("/database/") if d["database_name"] == spec.DATABASE_NAME]) == 1
    (dashboard,) = [d for d in client.list("/dashboard/") if d["dashboard_title"] == "Gold marts"]
    charts = client.call("GET", f"/dashboard/{dashboard['id']}/charts")["result"]
    assert sorted(chart["form_data"]["datasource"] for chart in charts) == sorted(
        f"{datasets[mart]['id']}__table" for mart in marts)
    for chart in charts:
        data = client.call("GET", f"/chart/{chart['id']}/data/")
        assert data["result"][0]["rowcount"] >= 1, chart["slice_name"]


def test_the_providers_see_no_drift_after_the_import(tmp_path, superset, postgres, importer):
    assert run_import(tmp_path, superset, postgres).returncode == 0
    props, created = importer
    provider = UserProvider(Retry(sleep=lambda _s: None))
    assert provider.read(created.id, created.outs).outs["spec_hash"] == created.outs["spec_hash"]
    assert provider.diff(created.id, created.outs, dict(props)).changes is False
    database = DatabaseProvider(Retry(sleep=lambda _s: None))
    outs = database.create({"connection": admin(superset), "name": spec.DATABASE_NAME,
                            "uri": uri(postgres, with_mask=False), "password": "",
                            "uuid": spec.bundle_database()["uuid"]}).outs
    assert database.read(spec.DATABASE_NAME, outs).outs["spec_hash"] == outs["spec_hash"]


def test_a_server_outside_the_ca_is_refused(tmp_path, superset, postgres, importer):
    other = make_pki(tmp_path / "other", common_name="someone-else")
    result = run_import(tmp_path, superset, postgres, SUPERSET_CA_FILE=str(other.cert_file.parent / "ca.pem"))
    assert result.returncode == 1
    assert "superset import failed: POST /api/v1/security/login: TLS verification against SUPERSET_CA_FILE" \
        in result.stderr and "CERTIFICATE_VERIFY_FAILED" in result.stderr


def test_a_wrong_password_is_a_clear_failure(tmp_path, superset, postgres, importer):
    result = run_import(tmp_path, superset, postgres, SUPERSET_PASSWORD="wrong")
    assert result.returncode == 1
    assert "superset import failed: POST /api/v1/security/login answered HTTP 401" in result.stderr


def test_a_user_without_the_import_permission_is_refused(tmp_path, superset, postgres, importer):
    retry = Retry(sleep=lambda _s: None)
    RoleProvider(retry).create({"connection": admin(superset), "name": "csrf-only",
                                "permissions": [["can_read", "SecurityRestApi"]]})
    UserProvider(retry).create({"connection": admin(superset), "name": "not-an-importer", "password": "pw-12345",
                                "roles": ["csrf-only"], "email": "nobody@platform.invalid", "first_name": "No",
                                "last_name": "Body"})
    result = run_import(tmp_path, superset, postgres, SUPERSET_USERNAME="not-an-importer",
                        SUPERSET_PASSWORD="pw-12345")
    assert result.returncode == 1
    assert "superset import failed: POST /api/v1/assets/import/ answered HTTP 403" in result.stderr, result.stderr


def test_an_incomplete_environment_names_what_is_missing(tmp_path, superset, postgres):
    result = run_import(tmp_path, superset, postgres, SUPERSET_PASSWORD="")
    assert result.returncode == 2 and "missing environment SUPERSET_PASSWORD" in result.stderr


def test_the_warm_up_call_is_the_one_supersets_openapi_document_defines(superset):
    """The request the dashboards step sends, held to the OpenAPI document this Superset serves."""
    document = SupersetClient(admin(superset)).call("GET", "/_openapi")
    operation = document["paths"]["/api/v1/dataset/warm_up_cache"]["put"]
    reference = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][reference.rsplit("/", 1)[1]]
    assert set(schema["required"]) == {"db_name", "table_name"}
    assert set(schema["properties"]) >= {"db_name", "table_name"}
    schemas = document["components"]["schemas"]

    def resolved(node: dict) -> dict:
        return schemas[node["$ref"].rsplit("/", 1)[1]] if "$ref" in node else node

    answer = resolved(operation["responses"]["200"]["content"]["application/json"]["schema"])
    single = resolved(answer["properties"]["result"]["items"])
    assert {"chart_id", "viz_error", "viz_status"} <= set(single["properties"])
