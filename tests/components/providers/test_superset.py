"""The Superset providers against a real Superset server: create, re-apply without change, update and delete a
database connection (to a real PostgreSQL), a role and a user (Flask-AppBuilder's security API as Superset serves
it: the shapes read back, the password written, drift); the Dremio Flight URI as a golden string."""

from __future__ import annotations

import copy
import json

import httpx
import pytest

from components.kit.rest import ProviderError, Retry
from components.presentation.provider import (
    DatabaseProvider,
    RoleProvider,
    SupersetClient,
    UserProvider,
    dremio_uri,
)
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


def login_status(superset, username: str, password: str) -> int:
    return httpx.post(f"{superset.url}/api/v1/security/login", json={
        "username": username, "password": password, "provider": "db", "refresh": False}).status_code


def user_props(superset, **changes) -> dict:
    return {"connection": connection(superset), "name": "reporter", "password": "reporter-pw-1",
            "roles": ["reporting"], "email": "reporter@platform.invalid", "first_name": "Report", "last_name": "Er",
            **changes}


def test_user_lifecycle(superset):
    """Flask-AppBuilder's user API as Superset 6.1 serves it: create, read back in the shape the provider compares,
    the password written (it logs in), second apply, refresh, a changed field, a rotated password, drift made
    through the same API, delete."""
    roles = RoleProvider(Retry(sleep=lambda _s: None))
    role = roles.create({"connection": connection(superset), "name": "reporting",
                         "permissions": [["can_read", "Dashboard"]]})
    provider = UserProvider(Retry(sleep=lambda _s: None))
    props = user_props(superset)
    created = provider.create(props)
    assert created.id == "reporter"
    assert "reporter-pw-1" not in json.dumps({k: v for k, v in created.outs.items() if k != "connection"})
    client = SupersetClient(props["connection"])
    listed = next(u for u in client.list("/security/users/") if u["username"] == "reporter")
    shown = client.call("GET", f"/security/users/{listed['id']}")["result"]
    for answer in (listed, shown):
        assert {"id", "username", "first_name", "last_name", "email", "active", "roles"} <= set(answer)
        assert [role["name"] for role in answer["roles"]] == ["reporting"] and answer["active"] is True
    assert login_status(superset, "reporter", "reporter-pw-1") == 200

    assert provider.diff(created.id, created.outs, copy.deepcopy(props)).changes is False
    second = provider.update(created.id, created.outs, copy.deepcopy(props))
    assert provider.diff(created.id, second.outs, copy.deepcopy(props)).changes is False
    refreshed = provider.read(created.id, second.outs)
    assert refreshed.id == "reporter"
    assert provider.diff(created.id, refreshed.outs, copy.deepcopy(props)).changes is False

    changed = user_props(superset, last_name="Writer", password="reporter-pw-2")
    assert provider.diff(created.id, refreshed.outs, changed).changes is True
    updated = provider.update(created.id, refreshed.outs, changed)
    assert provider.diff(created.id, provider.read(created.id, updated.outs).outs, changed).changes is False
    assert client.call("GET", f"/security/users/{listed['id']}")["result"]["last_name"] == "Writer"
    assert login_status(superset, "reporter", "reporter-pw-2") == 200
    assert login_status(superset, "reporter", "reporter-pw-1") == 401

    gamma = next(r["id"] for r in client.list("/security/roles/") if r["name"] == "Gamma")
    # (Flask-AppBuilder refuses a user with neither roles nor groups: a role is changed, not cleared.)
    for drift in ({"email": "someone-else@platform.invalid"}, {"roles": [gamma]}, {"active": False}):
        client.call("PUT", f"/security/users/{listed['id']}", drift)
        drifted = provider.read(created.id, updated.outs)
        assert drifted.outs["spec_hash"] != updated.outs["spec_hash"], f"{drift} does not show on refresh"
        assert provider.diff(created.id, drifted.outs, changed).changes is True
        updated = provider.update(created.id, drifted.outs, changed)
        assert provider.diff(created.id, provider.read(created.id, updated.outs).outs, changed).changes is False

    with pytest.raises(ProviderError, match="unknown roles"):
        provider.update(created.id, updated.outs, user_props(superset, roles=["no-such-role"]))
    provider.delete(created.id, updated.outs)
    provider.delete(created.id, updated.outs)
    assert provider.read(created.id, updated.outs).id == ""
    assert login_status(superset, "reporter", "reporter-pw-2") == 401
    roles.delete(role.id, role.outs)


def test_a_role_may_grant_a_schema_before_it_exists(superset, postgres):
    """Superset registers `schema_access` only for the schemas a database has when it is saved: the gold schema
    appears with the first build, after the role is applied. The provider registers it by Superset's name."""
    databases = DatabaseProvider(Retry(sleep=lambda _s: None))
    database = databases.create(database_props(superset, postgres, name="warehouse"))
    provider = RoleProvider(Retry(sleep=lambda _s: None))
    props = {"connection": connection(superset), "name": "gold-reader",
             "permissions": [["can_read", "Dashboard"], ["schema_access", "[warehouse].[gold.marts]"]]}
    created = provider.create(props)
    refreshed = provider.read(created.id, created.outs)
    assert provider.diff(created.id, refreshed.outs, copy.deepcopy(props)).changes is False
    again = provider.create(copy.deepcopy(props))  # found, not added twice
    assert again.outs["spec_hash"] == created.outs["spec_hash"]
    client = SupersetClient(props["connection"])
    pairs = [(p["permission"]["name"], p["view_menu"]["name"]) for p in client.list("/security/permissions-resources/")]
    assert pairs.count(("schema_access", "[warehouse].[gold.marts]")) == 1
    with pytest.raises(ProviderError, match="unknown permissions"):
        provider.update(created.id, created.outs, {**props, "permissions": [["can_fly", "[warehouse].[gold]"]]})
    provider.delete(created.id, created.outs)
    databases.delete(database.id, database.outs)
