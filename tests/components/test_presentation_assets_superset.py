"""The asset bundle imports into a real Superset, twice, once its tables exist and onto the connection the provider
created under the bundle's uuid: a dataset per gold mart with the bundle's columns, and no drift for the provider
afterwards (the data re-pointed at the real PostgreSQL the tests start)."""

from __future__ import annotations

import json

import httpx
import pytest

from components.kit.rest import Retry
from components.presentation import spec
from components.presentation.provider import DatabaseProvider, SupersetClient
from infra.model.catalog import load_catalog
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


def connection(superset) -> dict:
    return {"url": superset.url, "username": superset.admin[0], "password": superset.admin[1], "ca_pem": "",
            "insecure_loopback": True}


def import_bundle(superset, bundle: bytes) -> httpx.Response:
    client = SupersetClient(connection(superset))
    return client.http.post(f"{client.base}/assets/import/", headers=dict(client._auth()),
                            files={"bundle": ("gold_marts.zip", bundle, "application/zip")},
                            data={"passwords": json.dumps({})})


def test_bundle_imports_a_dataset_per_mart_onto_the_provider_connection(superset, postgres):
    uri = f"postgresql://postgres@127.0.0.1:{postgres.port}/analytics"
    # The provider creates the connection first, under the bundle's uuid, as Presentation declares it.
    DatabaseProvider(Retry(sleep=lambda _s: None)).create({
        "connection": connection(superset), "name": spec.DATABASE_NAME, "uri": uri, "password": "",
        "uuid": spec.bundle_database()["uuid"]})
    bundle = spec.bundle_zip(database_uri=uri, schema="gold")
    for attempt in (1, 2):
        answer = import_bundle(superset, bundle)
        assert answer.status_code == 200, (attempt, answer.text[:2000])
    client = SupersetClient(connection(superset))
    datasets = {d["table_name"]: d for d in client.list("/dataset/")}
    assert sorted(datasets) == sorted(mart.name for mart in load_catalog().marts)
    databases = [d for d in client.list("/database/") if d["database_name"] == spec.DATABASE_NAME]
    assert len(databases) == 1, "the import reused the provider's connection"
    provider = DatabaseProvider(Retry(sleep=lambda _s: None))
    props = {"connection": connection(superset), "name": spec.DATABASE_NAME, "uri": uri, "password": "",
             "uuid": spec.bundle_database()["uuid"]}
    outs = provider.create(props).outs
    assert provider.read(spec.DATABASE_NAME, outs).outs["spec_hash"] == outs["spec_hash"], "no drift after import"
    for name, dataset in spec.bundle_datasets().items():
        detail = client.call("GET", f"/dataset/{datasets[name]['id']}")["result"]
        assert detail["schema"] == "gold"
        assert {c["column_name"] for c in detail["columns"]} >= {c["column_name"] for c in dataset["columns"]}
