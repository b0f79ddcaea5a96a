"""The Dremio providers' refresh contract and edition differences, against a fake that follows Dremio's OSS source
(both editions) and the Enterprise documentation (roles, grants, user deletion):

- every dynamic resource type converges: create, then read (refresh), then diff shows no change, because `fetch`
  gives back exactly the shape `spec` hashes;
- a field changed on the server shows as drift; a masked secret is compared by the hash of what was applied;
- users are deleted through each edition's own endpoint (Community: apiv2 by name; Enterprise: v3 by id);
- every request of a whole lifecycle is one the edition serves, as the fake's route table cites it.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

import pytest

from components.kit.rest import ProviderError, Retry, digest, integral
from components.lakehouse import provider as dremio
from tests.support.dremio_server import EXISTING, OSS_ROOT, ROUTES, FakeDremio

ADMIN_PASSWORD = "admin-Passw0rd-for-tests"
EDITIONS = ("community", "enterprise")
NO_WAIT = Retry(sleep=lambda _: None)


@pytest.fixture(params=EDITIONS)
def server(request, pki):
    with FakeDremio.start(pki, edition=request.param) as fake:
        yield fake


def connection(server) -> dict:
    return {"url": server.url, "username": "platform-admin", "password": ADMIN_PASSWORD, "ca_pem": server.ca_pem,
            "timeout": 5.0}


def admin_props(server) -> dict:
    return {"connection": connection(server), "first_name": "Platform", "last_name": "Administrator",
            "email": "dremio-admin@platform.invalid"}


def user_props(server, name="dbt", password="dbt-Passw0rd-0001", email=None) -> dict:
    return {"connection": connection(server), "name": name, "password": password,
            "email": email or f"{name}@platform.invalid", "first_name": name, "last_name": "Service",
            "edition": server.edition}


def s3_props(server, name="lake", buckets=("dp-dev-bronze", "dp-dev-gold", "dp-dev-silver")) -> dict:
    entity = dremio.s3_source(name, "query-engine-key", list(buckets),
                              endpoint="minio.dp-storage.svc.cluster.local:9000", region="us-east-1")
    return {"connection": connection(server), "entity": entity,
            dremio.SECRET_CONFIG: {"accessSecret": "lake-secret-key-0123"}}


def postgres_props(server) -> dict:
    entity = dremio.postgres_source("metadata", "metadata-rw.dp-metadata.svc.cluster.local", 5432, "platform",
                                    "dremio")
    return {"connection": connection(server), "entity": entity, dremio.SECRET_CONFIG: {"password": "pg-Secret-01"}}


def space_props(server, name="gold") -> dict:
    return {"connection": connection(server), "entity": dremio.space(name)}


def folder_props(server) -> dict:
    return {"connection": connection(server), "entity": dremio.folder(["gold", "marts"])}


def role_props(server) -> dict:
    return {"connection": connection(server), "name": "analyst", "description": "People exploring the marts."}


def grants_props(server) -> dict:
    return {"connection": connection(server), "path": ["gold"],
            "grants": [{"granteeType": "USER", "name": "dbt", "privileges": ["SELECT", "ALTER", "MODIFY"]},
                       {"granteeType": "ROLE", "name": "analyst", "privileges": ["SELECT"]}]}


def kinds(edition: str) -> list[tuple[str, type[dremio.RestProvider], Any]]:
    """Every dynamic resource type the plans declare on `edition`, in dependency order."""
    every = [("admin", dremio.FirstAdminProvider, admin_props), ("user", dremio.UserProvider, user_props),
             ("s3", dremio.CatalogProvider, s3_props), ("postgres", dremio.CatalogProvider, postgres_props),
             ("space", dremio.CatalogProvider, space_props), ("folder", dremio.CatalogProvider, folder_props)]
    if edition == "enterprise":
        every += [("role", dremio.RoleProvider, role_props), ("grants", dremio.GrantsProvider, grants_props)]
    return every


def create_all(server) -> dict[str, Any]:
    return {name: provider(NO_WAIT).create(props(server)) for name, provider, props in kinds(server.edition)}


def test_every_type_converges_create_read_diff(server):
    created = create_all(server)
    for name, provider, props in kinds(server.edition):
        result = created[name]
        refreshed = provider(NO_WAIT).read(result.id, result.outs)
        assert refreshed.id == result.id, name
        assert refreshed.outs["spec_hash"] == result.outs["spec_hash"], f"{name}: refresh shows drift"
        assert provider(NO_WAIT).diff(result.id, refreshed.outs, props(server)).changes is False, name


def test_fetch_gives_back_exactly_the_spec_shape(server):
    create_all(server)
    client = dremio.DremioClient.from_connection(connection(server))
    for name, provider, props in kinds(server.edition):
        instance = provider(NO_WAIT)
        values = props(server)
        assert integral(instance.fetch(client, instance.key(values))) == integral(instance.spec(values)), name


def test_the_source_fields_are_the_spec_fields():
    """fetch projects on SOURCE_FIELDS; a field set by the spec and not projected (or the reverse) would never
    converge."""
    s3 = dremio.s3_source("lake", "key", ["b"], endpoint="minio:9000", region="us-east-1")
    postgres = dremio.postgres_source("metadata", "host", 5432, "db", "user")
    assert tuple(s3["config"]) == dremio.SOURCE_FIELDS["S3"]
    assert tuple(postgres["config"]) == dremio.SOURCE_FIELDS["POSTGRES"]
    assert set(dremio.SOURCE_FIELDS) == set(dremio.SECRET_FIELDS)


def drifted(server, provider, result) -> bool:
    refreshed = provider(NO_WAIT).read(result.id, result.outs)
    return refreshed.id == "" or refreshed.outs["spec_hash"] != result.outs["spec_hash"]


def test_a_change_on_the_server_shows_as_drift(server):
    created = create_all(server)
    server.user("platform-admin")["email"] = "someone@else.invalid"
    server.user("dbt")["lastName"] = "Renamed"
    server.edit("lake", whitelistedBuckets=["dp-dev-bronze"])
    server.edit("metadata", fetchSize=10)
    changes = {"admin": dremio.FirstAdminProvider, "user": dremio.UserProvider, "s3": dremio.CatalogProvider,
               "postgres": dremio.CatalogProvider}
    if server.edition == "enterprise":
        next(iter(server.roles.values()))["description"] = "edited by hand"
        server.grants[server.entity("gold")["id"]][0]["privileges"].append("MANAGE_GRANTS")
        changes |= {"role": dremio.RoleProvider, "grants": dremio.GrantsProvider}
    for name, provider in changes.items():
        assert drifted(server, provider, created[name]), f"{name}: a change on the server went unseen"
    del server.catalog[server.entity("gold", "marts")["id"]]
    assert dremio.CatalogProvider(NO_WAIT).read(created["folder"].id, created["folder"].outs).id == ""


def test_secrets_are_compared_by_hash_never_by_the_masked_answer(server):
    dremio.FirstAdminProvider(NO_WAIT).create(admin_props(server))
    provider = dremio.CatalogProvider(NO_WAIT)
    props = s3_props(server)
    created = provider.create(props)
    live = dremio.DremioClient.from_connection(connection(server)).by_path(["lake"])
    assert live["config"]["accessSecret"] == EXISTING
    assert provider.read(created.id, created.outs).outs["spec_hash"] == created.outs["spec_hash"]
    assert created.outs["spec_hash"] == digest(integral(props["entity"])), "the spec hash holds no secret"
    rotated = {**props, dremio.SECRET_CONFIG: {"accessSecret": "a-new-secret-0456"}}
    assert provider.diff(created.id, created.outs, rotated).changes is True, "a new secret is an update"
    provider.update(created.id, created.outs, rotated)
    assert server.entity("lake")["config"]["accessSecret"] == "a-new-secret-0456"


def test_postgres_external_query_is_neither_sent_nor_compared(server):
    dremio.FirstAdminProvider(NO_WAIT).create(admin_props(server))
    provider = dremio.CatalogProvider(NO_WAIT)
    created = provider.create(postgres_props(server))
    (post,) = [r for r in server.writes() if r.path == "/api/v3/catalog" and r.body["name"] == "metadata"]
    assert "enableExternalQuery" not in post.body["config"]
    assert provider.read(created.id, created.outs).outs["spec_hash"] == created.outs["spec_hash"]


# ---- users on each edition ------------------------------------------------------------------------------


def test_a_user_is_deleted_through_its_editions_endpoint(server):
    dremio.FirstAdminProvider(NO_WAIT).create(admin_props(server))
    provider = dremio.UserProvider(NO_WAIT)
    created = provider.create(user_props(server))
    assert created.outs["edition"] == server.edition
    tag = server.user("dbt")["tag"]
    provider.delete(created.id, created.outs)
    assert server.user("dbt") is None
    (delete,) = [r for r in server.writes() if r.method == "DELETE"]
    if server.edition == "community":
        assert delete.path == "/apiv2/user/dbt"
    else:
        assert re.fullmatch(r"/api/v3/user/[0-9a-f-]{36}", delete.path)
    assert delete.query == {"version": tag}, "the tag travels as `version`, quoted (it holds + / =)"
    provider.delete(created.id, created.outs)  # already gone: no error


def test_community_has_no_v3_user_delete(pki):
    with FakeDremio.start(pki, edition="community") as server:
        dremio.FirstAdminProvider(NO_WAIT).create(admin_props(server))
        dremio.UserProvider(NO_WAIT).create(user_props(server))
        client = dremio.DremioClient.from_connection(connection(server))
        user = client.get("/api/v3/user/by-name/dbt")
        with pytest.raises(dremio.DremioApiError) as raised:
            client.call("DELETE", f"/api/v3/user/{user['id']}?version={urllib.parse.quote(user['tag'], safe='')}")
        assert raised.value.status == 405
        assert server.user("dbt") is not None


def test_replacing_a_user_works_on_each_edition(server):
    """A replacement deletes the old user before creating the new one (delete_before_replace)."""
    dremio.FirstAdminProvider(NO_WAIT).create(admin_props(server))
    provider = dremio.UserProvider(NO_WAIT)
    old = provider.create(user_props(server, name="superset"))
    new_props = user_props(server, name="superset-bi")
    decision = provider.diff(old.id, old.outs, new_props)
    assert decision.replaces and decision.delete_before_replace
    provider.delete(old.id, old.outs)
    provider.create(new_props)
    assert server.user("superset") is None and server.user("superset-bi") is not None


def test_a_stale_version_on_delete_is_retried_with_the_live_tag(server):
    dremio.FirstAdminProvider(NO_WAIT).create(admin_props(server))
    slept: list[float] = []
    provider = dremio.UserProvider(Retry(sleep=slept.append))
    created = provider.create(user_props(server))
    path = "/apiv2/user/dbt" if server.edition == "community" else f"/api/v3/user/{server.user('dbt')['id']}"
    server.fail("status", status=409, method="DELETE", path=path)  # another writer changed the user meanwhile
    provider.delete(created.id, created.outs)
    assert slept == [0.5] and server.user("dbt") is None


def test_state_without_the_edition_is_updated_once_and_never_guessed_at_delete(server):
    dremio.FirstAdminProvider(NO_WAIT).create(admin_props(server))
    provider = dremio.UserProvider(NO_WAIT)
    created = provider.create(user_props(server))
    legacy = {key: value for key, value in created.outs.items() if key != "edition"}
    assert provider.diff(created.id, legacy, user_props(server)).changes is True, "the next up records it"
    assert provider.diff(created.id, created.outs, user_props(server)).changes is False
    with pytest.raises(ProviderError, match="run `pulumi up` once"):
        provider.delete(created.id, legacy)
    assert server.user("dbt") is not None
    assert provider.update(created.id, legacy, user_props(server)).outs["edition"] == server.edition


def test_a_user_without_an_edition_is_refused_before_any_call(server):
    props = user_props(server)
    del props["edition"]
    with pytest.raises(ValueError, match="edition"):
        dremio.UserProvider(NO_WAIT).create(props)
    assert server.requests == []


# ---- every request is one the edition serves ------------------------------------------------------------


def test_a_whole_lifecycle_makes_only_requests_the_edition_serves(server):
    created = create_all(server)
    create_all(server)  # a second apply
    for name, provider, _ in kinds(server.edition):
        provider(NO_WAIT).read(created[name].id, created[name].outs)
    for name, provider, _ in reversed(kinds(server.edition)):
        provider(NO_WAIT).delete(created[name].id, created[name].outs)
    assert server.users.keys() == {server.user("platform-admin")["id"]}, "the administrator stays"
    assert server.catalog == {} and server.roles == {}
    unserved = [(r.method, r.path) for r in server.requests if r.route is None]
    assert unserved == [], "requests outside the edition's API"
    used = {(r.route.method, r.route.pattern) for r in server.requests}
    if server.edition == "community":
        assert ("DELETE", "/apiv2/user/{name}") in used and not any("/role" in p for _, p in used)
    else:
        assert ("DELETE", "/api/v3/user/{id}") in used and ("PUT", "/api/v3/catalog/{id}/grants") in used


def test_each_route_cites_what_it_follows():
    oss = re.compile(r"oss:(?P<file>(?:api|resource)/(?P<cls>[A-Za-z]+)\.java) (?P=cls)\.[a-z][A-Za-z]+")
    for route in ROUTES:
        if route.follows.startswith("oss:"):
            assert oss.fullmatch(route.follows), route
            assert OSS_ROOT.startswith("dac/backend/src/main/java/com/dremio/dac/")
        else:
            assert route.follows.startswith("docs-only:https://docs.dremio.com/"), route
            assert route.editions == {"enterprise"}, f"{route}: a docs-only route is Enterprise's"
    oss_user_routes = {(r.method, r.pattern) for r in ROUTES if "api/UserResource" in r.follows}
    assert ("DELETE", "/api/v3/user/{id}") not in oss_user_routes, "the OSS v3 UserResource has no DELETE"
