"""The Dremio providers against a server that follows the documented API: bootstrap from empty, no change on a
second apply, tag-checked updates, deletes of what is gone, retries, the server's rejections, golden payloads."""

from __future__ import annotations

import copy
import json
import re
import urllib.parse

import pytest

from components.kit.rest import ProviderError, Retry
from components.lakehouse import provider as dremio
from tests.support.dremio_server import EXISTING, FakeDremio
from tests.support.golden import check_golden
from tests.support.tls import make_pki

ADMIN_PASSWORD = "admin-Passw0rd-for-tests"
LAKE_SECRET = "lake-secret-key-0123"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture()
def server(pki):
    with FakeDremio.start(pki) as fake:
        yield fake


@pytest.fixture()
def enterprise(pki):
    with FakeDremio.start(pki, edition="enterprise") as fake:
        yield fake


@pytest.fixture()
def slept() -> list[float]:
    return []


def connection(server, pki, timeout: float = 5.0) -> dict:
    return {"url": server.url, "username": "platform-admin", "password": ADMIN_PASSWORD, "ca_pem": pki.ca_pem,
            "timeout": timeout}


def admin_props(server, pki) -> dict:
    return {"connection": connection(server, pki), "first_name": "Platform", "last_name": "Administrator",
            "email": "dremio-admin@platform.invalid"}


def lake_props(server, pki, buckets=("dp-dev-bronze", "dp-dev-gold", "dp-dev-silver")) -> dict:
    entity = dremio.s3_source("lake", "query-engine-key", list(buckets),
                              endpoint="minio.dp-storage.svc.cluster.local:9000", region="us-east-1")
    return {"connection": connection(server, pki), "entity": entity,
            dremio.SECRET_CONFIG: {"accessSecret": LAKE_SECRET}}


def user_props(server, pki, password="dbt-Passw0rd-0001") -> dict:
    return {"connection": connection(server, pki), "name": "dbt", "password": password,
            "email": "dbt@platform.invalid", "first_name": "dbt", "last_name": "Service", "edition": server.edition}


def bootstrap(server, pki, slept) -> dict:
    """Everything a Community stack declares, applied in dependency order; returns the create results."""
    retry = Retry(sleep=slept.append)
    results = {"admin": dremio.FirstAdminProvider(retry).create(admin_props(server, pki)),
               "dbt": dremio.UserProvider(retry).create(user_props(server, pki)),
               "lake": dremio.CatalogProvider(retry).create(lake_props(server, pki))}
    postgres = dremio.postgres_source("metadata", "metadata-rw.dp-metadata.svc.cluster.local", 5432,
                                      "dataplatform", "dremio_reader")
    results["metadata"] = dremio.CatalogProvider(retry).create(
        {"connection": connection(server, pki), "entity": postgres, dremio.SECRET_CONFIG: {"password": "pg-secret"}})
    for layer in ("bronze", "silver", "gold"):
        results[layer] = dremio.CatalogProvider(retry).create(
            {"connection": connection(server, pki), "entity": dremio.space(layer)})
    results["gold/marts"] = dremio.CatalogProvider(retry).create(
        {"connection": connection(server, pki), "entity": dremio.folder(["gold", "marts"])})
    return results


def with_admin(server, pki) -> None:
    dremio.FirstAdminProvider().create(admin_props(server, pki))


def normalised_writes(server) -> list[dict]:
    tags = {item["tag"] for item in [*server.catalog.values(), *server.users.values()]}
    tags |= {value for request in server.requests for value in request.query.values()}
    tags |= {request.body["tag"] for request in server.requests
             if isinstance(request.body, dict) and "tag" in request.body}
    def scrub(value):
        if isinstance(value, str):
            for tag in tags:
                value = value.replace(tag, "<tag>").replace(urllib.parse.quote(tag, safe=""), "<tag>")
            return UUID.sub("<id>", value)
        if isinstance(value, dict):
            return {key: scrub(item) for key, item in value.items()}
        if isinstance(value, list):
            return [scrub(item) for item in value]
        return value

    return [{"method": request.method, "path": scrub(request.path), "body": scrub(request.body)}
            for request in server.writes()]


def test_bootstrap_from_empty_matches_the_golden_payloads(server, pki, slept):
    bootstrap(server, pki, slept)
    writes = normalised_writes(server)
    check_golden("providers/dremio_bootstrap_payloads.json", json.dumps(writes, indent=2, sort_keys=True) + "\n")
    lake = server.entity("lake")
    assert lake["config"]["secure"] is True and lake["config"]["compatibilityMode"] is True
    assert lake["metadataPolicy"]["autoPromoteDatasets"] is True
    assert server.entity("metadata")["config"]["encryptionValidationMode"] == "CERTIFICATE_AND_HOSTNAME_VALIDATION"
    assert server.entity("metadata")["config"]["useSsl"] is True
    assert slept == []


def test_a_second_apply_changes_nothing_and_refresh_sees_no_drift(server, pki, slept):
    results = bootstrap(server, pki, slept)
    for props, provider, name in [(admin_props(server, pki), dremio.FirstAdminProvider(), "admin"),
                                  (user_props(server, pki), dremio.UserProvider(), "dbt"),
                                  (lake_props(server, pki), dremio.CatalogProvider(), "lake")]:
        created = results[name]
        assert provider.diff(created.id, created.outs, copy.deepcopy(props)).changes is False
        assert provider.read(created.id, created.outs).outs["spec_hash"] == created.outs["spec_hash"], name
    writes = len(server.writes())
    bootstrap(server, pki, slept)  # the same program applied again converges without a single change
    assert [request.method for request in server.writes()[writes:]] == ["PUT"] * 3, "only the sources' upserts"
    assert len([item for item in server.catalog.values()]) == 6


def test_no_secret_is_kept_in_state_except_inside_the_connection(server, pki, slept):
    results = bootstrap(server, pki, slept)
    for name, result in results.items():
        outputs = {key: value for key, value in result.outs.items() if key != "connection"}
        text = json.dumps(outputs)
        for secret in (ADMIN_PASSWORD, LAKE_SECRET, "pg-secret", "dbt-Passw0rd-0001"):
            assert secret not in text, name
    client = dremio.DremioClient.from_connection(connection(server, pki))
    assert client.by_path(["lake"])["config"]["accessSecret"] == EXISTING, "the server never answers a secret"


def test_update_carries_the_live_tag_and_keeps_the_other_fields(server, pki, slept):
    with_admin(server, pki)
    provider = dremio.CatalogProvider(Retry(sleep=slept.append))
    created = provider.create(lake_props(server, pki))
    changed = lake_props(server, pki, buckets=("dp-dev-gold", "dp-dev-silver"))
    assert provider.diff(created.id, created.outs, changed).changes is True
    tag = server.entity("lake")["tag"]
    provider.update(created.id, created.outs, changed)
    put = server.writes()[-1]
    assert put.method == "PUT" and put.body["tag"] == tag
    assert server.entity("lake")["config"]["whitelistedBuckets"] == ["dp-dev-gold", "dp-dev-silver"]
    assert server.entity("lake")["config"]["accessSecret"] == LAKE_SECRET


def test_a_stale_tag_is_retried_with_the_new_one(server, pki, slept):
    with_admin(server, pki)
    provider = dremio.CatalogProvider(Retry(sleep=slept.append))
    created = provider.create(lake_props(server, pki))
    server.fail("status", status=409, method="PUT")  # another writer won the race once
    provider.update(created.id, created.outs, lake_props(server, pki, buckets=("dp-dev-gold",)))
    assert slept == [0.5]
    assert server.entity("lake")["config"]["whitelistedBuckets"] == ["dp-dev-gold"]


def test_the_server_rejects_a_stale_tag(server, pki):
    with_admin(server, pki)
    dremio.CatalogProvider().create(lake_props(server, pki))
    client = dremio.DremioClient.from_connection(connection(server, pki))
    live = client.by_path(["lake"])
    server.bump("lake")
    with pytest.raises(dremio.DremioApiError) as raised:
        client.call("PUT", f"/api/v3/catalog/{live['id']}", {**live, "config": {}})
    assert raised.value.status == 409


def test_unknown_source_config_fields_are_rejected_not_retried(server, pki, slept):
    with_admin(server, pki)
    props = lake_props(server, pki)
    props["entity"]["config"]["hostList"] = []  # an Elasticsearch field S3 sources do not have
    with pytest.raises(ProviderError, match='Unrecognized field "hostList"'):
        dremio.CatalogProvider(Retry(sleep=slept.append)).create(props)
    assert slept == []


def test_transient_failures_are_retried_with_backoff(server, pki, slept):
    with_admin(server, pki)
    server.fail("status", status=503, path="/api/v3/catalog")
    server.fail("drop", path="/api/v3/catalog")
    dremio.CatalogProvider(Retry(sleep=slept.append)).create(lake_props(server, pki))
    assert slept == [0.5, 1.0]
    assert server.entity("lake") is not None


def test_a_timeout_is_retried(server, pki, slept):
    with_admin(server, pki)
    server.fail("timeout", delay=0.6, path="/api/v3/catalog/by-path")
    props = lake_props(server, pki)
    props["connection"]["timeout"] = 0.3
    dremio.CatalogProvider(Retry(sleep=slept.append)).create(props)
    assert slept == [0.5]


def test_failures_that_persist_stop_after_the_bounded_attempts(server, pki, slept):
    with_admin(server, pki)
    server.fail("status", count=10, status=500, path="/api/v3/catalog")
    with pytest.raises(ProviderError, match="still failing after 5 attempts"):
        dremio.CatalogProvider(Retry(sleep=slept.append)).create(lake_props(server, pki))
    assert slept == [0.5, 1.0, 2.0, 4.0]


def test_an_untrusted_certificate_fails_at_once(server, pki, tmp_path, slept):
    other = make_pki(tmp_path / "other", common_name="other-ca")
    props = lake_props(server, pki)
    props["connection"]["ca_pem"] = other.ca_pem
    with pytest.raises(ProviderError, match="CERTIFICATE_VERIFY_FAILED"):
        dremio.CatalogProvider(Retry(sleep=slept.append)).create(props)
    assert slept == []


def test_plain_http_is_refused(server, pki):
    props = lake_props(server, pki)
    props["connection"]["url"] = server.url.replace("https://", "http://")
    with pytest.raises(ValueError, match="TLS is required"):
        dremio.CatalogProvider().create(props)


def test_delete_removes_and_tolerates_what_is_already_gone(server, pki, slept):
    with_admin(server, pki)
    provider = dremio.CatalogProvider(Retry(sleep=slept.append))
    created = provider.create(lake_props(server, pki))
    provider.delete(created.id, created.outs)
    assert server.entity("lake") is None
    provider.delete(created.id, created.outs)  # gone: no error
    users = dremio.UserProvider()
    user = users.create(user_props(server, pki))
    users.delete(user.id, user.outs)
    users.delete(user.id, user.outs)
    assert server.user("dbt") is None


def test_refresh_of_a_deleted_object_reports_it_gone(server, pki):
    with_admin(server, pki)
    provider = dremio.CatalogProvider()
    created = provider.create(lake_props(server, pki))
    server.catalog.clear()
    assert provider.read(created.id, created.outs).id == ""


def test_the_first_admin_is_idempotent_and_a_foreign_admin_is_named(server, pki):
    provider = dremio.FirstAdminProvider()
    provider.create(admin_props(server, pki))
    provider.create(admin_props(server, pki))
    assert [request.path for request in server.writes()].count("/apiv2/bootstrap/firstuser") == 1
    props = admin_props(server, pki)
    props["connection"]["password"] = "another-Passw0rd"
    with pytest.raises(ProviderError, match="already has users"):
        provider.create(props)


def test_a_user_password_change_is_an_update_with_the_tag(server, pki):
    with_admin(server, pki)
    provider = dremio.UserProvider()
    created = provider.create(user_props(server, pki))
    rotated = user_props(server, pki, password="dbt-Passw0rd-0002")
    assert provider.diff(created.id, created.outs, rotated).changes is True
    provider.update(created.id, created.outs, rotated)
    assert server.user("dbt")["password"] == "dbt-Passw0rd-0002"
    with pytest.raises(ProviderError, match="at least 8"):
        provider.create(user_props(server, pki, password="short"))


def test_enterprise_roles_and_grants_converge(enterprise, pki, slept):
    bootstrap(enterprise, pki, slept)
    dremio.RoleProvider().create({"connection": connection(enterprise, pki), "name": "analyst",
                                  "description": "People exploring the marts."})
    grants = {"connection": connection(enterprise, pki), "path": ["gold"],
              "grants": [{"granteeType": "USER", "name": "dbt", "privileges": ["SELECT", "ALTER", "MODIFY"]},
                         {"granteeType": "ROLE", "name": "analyst", "privileges": ["SELECT"]}]}
    provider = dremio.GrantsProvider()
    created = provider.create(grants)
    assert provider.read(created.id, created.outs).outs["spec_hash"] == created.outs["spec_hash"]
    provider.delete(created.id, created.outs)
    assert enterprise.grants[enterprise.entity("gold")["id"]] == []


def test_grants_for_an_unknown_role_name_the_fix(enterprise, pki, slept):
    bootstrap(enterprise, pki, slept)
    grants = {"connection": connection(enterprise, pki), "path": ["gold"],
              "grants": [{"granteeType": "ROLE", "name": "nobody", "privileges": ["SELECT"]}]}
    with pytest.raises(ProviderError, match="role 'nobody' does not exist"):
        dremio.GrantsProvider().create(grants)


def test_community_refuses_grants(server, pki, slept):
    bootstrap(server, pki, slept)
    grants = {"connection": connection(server, pki), "path": ["gold"], "grants": []}
    with pytest.raises(ProviderError, match="HTTP 404"):
        dremio.GrantsProvider().create(grants)
