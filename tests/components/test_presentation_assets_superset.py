"""The asset bundle imports into a real Superset, twice without change, once its tables exist: a dataset per gold
mart with the bundle's columns (the data re-pointed at the real PostgreSQL the tests start)."""

from __future__ import annotations

import json

import httpx
import pytest

from components import presentation_spec as spec
from components.providers.superset import SupersetClient
from infra.catalog import load_catalog
from tests.support.postgres import PostgresServer
from tests.support.superset import SupersetServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]
COLUMN_TYPES = {"date": "date", "days": "int", "orders": "int", "count": "int", "value": "numeric",
                "revenue": "numeric"}


def column_type(name: str) -> str:
    return next((kind for suffix, kind in COLUMN_TYPES.items() if name.endswith(suffix)), "text")


@pytest.fixture(scope="module")
def postgres():
    datasets = spec.bundle_datasets()
    with PostgresServer.start() as server:
        server.create_database("analytics")
        tables = []
        for name, dataset in datasets.items():
            columns = [column["column_name"] for column in dataset["columns"]]
            tables.append(f"CREATE TABLE gold.{name} ({', '.join(f'{c} {column_type(c)}' for c in columns)})")
        server.psql("CREATE SCHEMA gold; " + "; ".join(tables), database="analytics")
        yield server


@pytest.fixture(scope="module")
def superset(tmp_path_factory):
    with SupersetServer.start(tmp_path_factory.mktemp("superset")) as server:
        yield server


def import_bundle(superset, bundle: bytes) -> httpx.Response:
    client = SupersetClient({"url": superset.url, "username": superset.admin[0], "password": superset.admin[1],
                             "ca_pem": "", "insecure_loopback": True})
    return client.http.post(f"{client.base}/assets/import/", headers=dict(client._auth()),
                            files={"bundle": ("gold_marts.zip", bundle, "application/zip")},
                            data={"passwords": json.dumps({})})


def test_bundle_imports_a_dataset_per_mart(superset, postgres):
    bundle = spec.bundle_zip(database_uri=f"postgresql://postgres@127.0.0.1:{postgres.port}/analytics", schema="gold")
    for attempt in (1, 2):
        answer = import_bundle(superset, bundle)
        assert answer.status_code == 200, (attempt, answer.text[:2000])
    client = SupersetClient({"url": superset.url, "username": superset.admin[0], "password": superset.admin[1],
                             "ca_pem": "", "insecure_loopback": True})
    datasets = {d["table_name"]: d for d in client.list("/dataset/")}
    assert sorted(datasets) == sorted(mart.name for mart in load_catalog().marts)
    databases = [d["database_name"] for d in client.list("/database/")]
    assert databases.count(spec.DATABASE_NAME) == 1
    for name, dataset in spec.bundle_datasets().items():
        detail = client.call("GET", f"/dataset/{datasets[name]['id']}")["result"]
        assert detail["schema"] == "gold"
        assert {c["column_name"] for c in detail["columns"]} >= {c["column_name"] for c in dataset["columns"]}
