"""The Superset providers against a real Superset server: create, re-apply without change, update and delete a
database connection (to a real PostgreSQL) and a role; the Dremio Flight URI as a golden string."""

from __future__ import annotations

import copy
import json

import pytest

from components.kit.rest import ProviderError, Retry
from components.presentation.provider import DatabaseProvider, RoleProvider, SupersetClient, dremio_uri
from tests.support.postgres import PostgresServer
from tests.support.superset import SupersetServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def postgres():
    with PostgresServer.start() as server:
        server.create_database("analytics")
        server.psql("CREATE SCHEMA gold; CREATE TABLE gold.fct_daily_revenue (order_date date, daily_revenue "
                    "numeric, order_count int)", database="analytics")
        yield server


@pytest.fixture(scope="module")
def superset(tmp_path_factory):
    with SupersetServer.start(tmp_path_factory.mktemp("superset")) as server:
        yield server


def connection(superset) -> dict:
    return {"url": superset.url, "username": superset.admin[0], "password": superset.admin[1], "ca_pem": "",
            "insecure_loopback": True}


def database_props(superset, postgres, name="gold", password="reader-pw") -> dict:
    uri = f"postgresql://postgres@127.0.0.1:{postgres.port}/analytics"
    return {"connection": connection(superset), "name": name, "uri": uri, "password": password}


def test_dremio_uri_is_flight_with_tls_and_verification():
    assert dremio_uri("dremio.dp-lakehouse.svc.cluster.local", 32010, "superset") == (
        "dremio+flight://superset@dremio.dp-lakehouse.svc.cluster.local:32010/dremio"
        "?UseEncryption=true&disableCertificateVerification=false")


def test_database_lifecycle(superset, postgres):
    provider = DatabaseProvider(Retry(sleep=lambda _s: None))
    props = database_props(superset, postgres)
    created = provider.create(props)
    assert provider.diff(created.id, created.outs, copy.deepcopy(props)).changes is False
    assert provider.read(created.id, created.outs).outs["spec_hash"] == created.outs["spec_hash"]
    assert "reader-pw" not in json.dumps({k: v for k, v in created.outs.items() if k != "connection"})
    client = SupersetClient(props["connection"])
    live = next(d for d in client.list("/database/") if d["database_name"] == "gold")
    detail = client.call("GET", f"/database/{live['id']}")["result"]
    assert (detail["allow_dml"], detail["allow_ctas"], detail["allow_cvas"], detail["allow_file_upload"]) == (
        False, False, False, False)
    provider.create(props)  # a second create is an upsert, not a conflict
    rotated = database_props(superset, postgres, password="reader-pw-2")
    assert provider.diff(created.id, created.outs, rotated).changes is True
    updated = provider.update(created.id, created.outs, rotated)
    assert provider.diff(created.id, updated.outs, rotated).changes is False
    provider.delete(created.id, updated.outs)
    provider.delete(created.id, updated.outs)
    assert provider.read(created.id, updated.outs).id == ""


def test_an_unreachable_database_is_refused(superset, postgres):
    props = database_props(superset, postgres, name="nowhere")
    props["uri"] = "postgresql://postgres@127.0.0.1:1/analytics"
    with pytest.raises(ProviderError):
        DatabaseProvider(Retry(attempts=1)).create(props)


def test_role_lifecycle(superset):
    provider = RoleProvider(Retry(sleep=lambda _s: None))
    props = {"connection": connection(superset), "name": "analyst",
             "permissions": [["can_read", "Dataset"], ["can_read", "Dashboard"]]}
    created = provider.create(props)
    assert provider.diff(created.id, created.outs, copy.deepcopy(props)).changes is False
    assert provider.read(created.id, created.outs).outs["spec_hash"] == created.outs["spec_hash"]
    wider = {**props, "permissions": [*props["permissions"], ["can_read", "Chart"]]}
    assert provider.diff(created.id, created.outs, wider).changes is True
    updated = provider.update(created.id, created.outs, wider)
    assert provider.read(created.id, updated.outs).outs["spec_hash"] == updated.outs["spec_hash"]
    with pytest.raises(ProviderError, match="unknown permissions"):
        provider.update(created.id, updated.outs, {**props, "permissions": [["can_fly", "Dataset"]]})
    provider.delete(created.id, updated.outs)
    provider.delete(created.id, updated.outs)
    assert provider.read(created.id, updated.outs).id == ""
