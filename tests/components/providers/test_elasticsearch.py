"""The Elasticsearch providers against a server that follows the documented API: idempotent CRUD, drift, retries,
TLS verification, version-pinned compatibility headers, the server's rejections, and no secret in state."""

from __future__ import annotations

import copy
import json

import pytest

from components.kit.rest import ProviderError, Retry
from components.logs import spec as logs_spec
from components.logs.provider import (
    IlmPolicyProvider,
    IndexTemplateProvider,
    RoleProvider,
    UserProvider,
)
from tests.support.elasticsearch_server import ADMIN, FakeElasticsearch
from tests.support.tls import make_pki

FAMILIES = logs_spec.families(job_log_days=14, audit_days=90)
AIRBYTE, _DBT, AUDIT = FAMILIES


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture()
def server(pki):
    with FakeElasticsearch.start(pki) as fake:
        yield fake


@pytest.fixture()
def slept() -> list[float]:
    return []


def connection(server, pki, timeout: float = 5.0) -> dict:
    return {"url": server.url, "username": ADMIN[0], "password": ADMIN[1], "ca_pem": pki.ca_pem, "timeout": timeout}


def template_props(server, pki, family=AIRBYTE, replicas=0) -> dict:
    return {"connection": connection(server, pki), "name": family.name,
            "body": logs_spec.index_template(family, replicas)}


def test_create_then_a_second_apply_changes_nothing(server, pki, slept):
    provider = IndexTemplateProvider(Retry(sleep=slept.append))
    props = template_props(server, pki)
    created = provider.create(props)
    assert created.id == "airbyte-logs"
    assert server.templates["airbyte-logs"]["template"]["mappings"]["properties"] == logs_spec.AIRBYTE_LOGS_FIELDS
    writes = len(server.writes())
    assert provider.diff(created.id, created.outs, copy.deepcopy(props)).changes is False
    refreshed = provider.read(created.id, created.outs)
    assert refreshed.outs["spec_hash"] == created.outs["spec_hash"], "the server's normalised form must match"
    assert (len(server.writes()), slept) == (writes, [])


def test_numbers_as_the_engine_sends_them_are_applied_as_integers(server, pki):
    provider = IndexTemplateProvider(Retry(sleep=lambda _: None))
    props = template_props(server, pki, replicas=1)
    wire = json.loads(json.dumps(props), parse_int=float)  # every number a float, as after the gRPC hop
    created = provider.create(wire)
    assert server.templates["airbyte-logs"]["priority"] == logs_spec.TEMPLATE_PRIORITY
    assert provider.diff(created.id, created.outs, props).changes is False
    assert provider.read(created.id, created.outs).outs["spec_hash"] == created.outs["spec_hash"]


def test_update_applies_the_new_body_and_refresh_sees_drift(server, pki):
    provider = IlmPolicyProvider(Retry(sleep=lambda _: None))
    props = {"connection": connection(server, pki), "name": "platform-audit", "policy": logs_spec.ilm_policy(AUDIT)}
    created = provider.create(props)
    longer = copy.deepcopy(props)
    longer["policy"]["phases"]["delete"]["min_age"] = "365d"
    assert provider.diff(created.id, created.outs, longer).changes is True
    updated = provider.update(created.id, created.outs, longer)
    assert server.policies["platform-audit"]["policy"]["phases"]["delete"]["min_age"] == "365d"
    assert provider.diff(created.id, updated.outs, longer).changes is False
    server.policies["platform-audit"]["policy"]["phases"]["delete"]["min_age"] = "1d"  # someone edits it by hand
    drifted = provider.read(created.id, updated.outs)
    assert provider.diff(created.id, drifted.outs, longer).changes is True


def test_delete_succeeds_when_the_object_is_already_gone(server, pki):
    provider = RoleProvider(Retry(sleep=lambda _: None))
    props = {"connection": connection(server, pki), "name": "log-reader", "role": logs_spec.reader_role(FAMILIES)}
    created = provider.create(props)
    provider.delete(created.id, created.outs)
    assert "log-reader" not in server.roles
    provider.delete(created.id, created.outs)
    assert provider.read(created.id, created.outs).id == ""


@pytest.mark.parametrize(
    ("fault", "options"),
    [("status", {"status": 503}), ("status", {"status": 409}), ("drop", {}), ("timeout", {"delay": 0.6})],
    ids=["503", "409-conflict", "dropped-connection", "timeout"],
)
def test_transient_failures_are_retried_with_backoff(server, pki, slept, fault, options):
    provider = RoleProvider(Retry(sleep=slept.append))
    props = {"connection": connection(server, pki, timeout=0.3), "name": "log-writer",
             "role": logs_spec.writer_role(FAMILIES)}
    server.fail(fault, count=2, method="PUT", **options)
    provider.create(props)
    assert server.roles["log-writer"]["indices"][0]["privileges"] == ["create_doc", "create_index"]
    assert slept == [0.5, 1.0]


def test_retries_are_bounded(server, pki, slept):
    provider = RoleProvider(Retry(attempts=3, sleep=slept.append))
    props = {"connection": connection(server, pki), "name": "log-writer", "role": logs_spec.writer_role(FAMILIES)}
    server.fail("status", count=5, status=502)
    with pytest.raises(ProviderError, match="still failing after 3 attempts"):
        provider.create(props)
    assert slept == [0.5, 1.0]


BAD_TEMPLATES = {
    "unknown top-level field": (lambda body: body.update(index_pattern=["x-*"]), "unknown field [index_pattern]"),
    "unknown mapping type": (
        lambda body: body["template"]["mappings"]["properties"].update(level={"type": "string"}),
        "No handler for type [string] declared on field [level]",
    ),
    "unknown mapping parameter": (
        lambda body: body["template"]["mappings"]["properties"].update(level={"type": "keyword", "format": "x"}),
        "unknown parameter [format] on mapper [level] of type [keyword]",
    ),
    "unknown setting": (
        lambda body: body["template"]["settings"]["index"].update(lifecyle={"name": "x"}),
        "unknown setting [index.lifecyle.name]",
    ),
}


@pytest.mark.parametrize("case", BAD_TEMPLATES, ids=list(BAD_TEMPLATES))
def test_what_the_server_rejects_fails_at_once_with_its_reason(server, pki, slept, case):
    mutate, reason = BAD_TEMPLATES[case]
    props = template_props(server, pki)
    mutate(props["body"])
    with pytest.raises(ProviderError, match="elasticsearch index template 'airbyte-logs' apply:") as raised:
        IndexTemplateProvider(Retry(sleep=slept.append)).create(props)
    assert reason in str(raised.value)
    assert (slept, server.templates) == ([], {})


def test_ilm_and_security_bodies_are_validated_too(server, pki):
    retry = Retry(sleep=lambda _: None)
    policy = logs_spec.ilm_policy(AUDIT)
    policy["phases"]["delete"]["actions"]["rollover"] = {"max_age": "1d"}
    with pytest.raises(ProviderError, match=r"invalid action \[rollover\] defined in phase \[delete\]"):
        IlmPolicyProvider(retry).create({"connection": connection(server, pki), "name": "p", "policy": policy})
    role = logs_spec.reader_role(FAMILIES) | {"cluster": ["manage_everything"]}
    with pytest.raises(ProviderError, match=r"unknown cluster privilege \[manage_everything\]"):
        RoleProvider(retry).create({"connection": connection(server, pki), "name": "r", "role": role})
    with pytest.raises(ProviderError, match=r"passwords must be at least \[6\] characters long"):
        UserProvider(retry).create({"connection": connection(server, pki), "name": "u", "roles": [],
                                    "password": "short"})


def test_templates_of_the_same_priority_must_not_overlap(server, pki):
    provider = IndexTemplateProvider(Retry(sleep=lambda _: None))
    provider.create(template_props(server, pki))
    clash = template_props(server, pki)
    clash["name"] = "everything"
    clash["body"]["index_patterns"] = ["airbyte-*"]
    with pytest.raises(ProviderError, match="multiple index templates may not match during index creation"):
        provider.create(clash)


def test_an_8x_server_refuses_the_pinned_9x_client(pki, slept):
    with FakeElasticsearch.start(pki, version="8.19.0") as older:
        with pytest.raises(ProviderError, match="media_type_header_exception") as raised:
            IndexTemplateProvider(Retry(sleep=slept.append)).create(template_props(older, pki))
        header = older.requests == [] and raised.value.__cause__
    assert slept == [] and header is not None
    assert "compatible-with=9" in str(raised.value)


def test_the_server_certificate_is_verified_against_the_given_ca(server, pki, tmp_path, slept):
    other = make_pki(tmp_path / "other", common_name="someone-else")
    props = template_props(server, pki)
    props["connection"]["ca_pem"] = other.ca_pem
    with pytest.raises(ProviderError, match="CERTIFICATE_VERIFY_FAILED"):
        IndexTemplateProvider(Retry(sleep=slept.append)).create(props)
    assert slept == []
    props["connection"]["url"] = server.url.replace("https://", "http://")
    with pytest.raises(ValueError, match="is not https"):
        IndexTemplateProvider().create(props)


def test_state_keeps_no_object_secret_and_a_new_password_is_an_update(server, pki):
    provider = UserProvider(Retry(sleep=lambda _: None))
    props = {"connection": connection(server, pki), "name": "log-shipper", "roles": ["log-writer"],
             "full_name": "Fluent Bit", "password": "first-password-0123456789"}
    created = provider.create(props)
    state = json.dumps({key: value for key, value in created.outs.items() if key != "connection"})
    assert "first-password" not in state
    assert server.users["log-shipper"]["_password"] == "first-password-0123456789"
    assert provider.diff(created.id, created.outs, dict(props)).changes is False
    assert provider.read(created.id, created.outs).outs["spec_hash"] == created.outs["spec_hash"]
    rotated = props | {"password": "second-password-0123456789"}
    assert provider.diff(created.id, created.outs, rotated).changes is True
    provider.update(created.id, created.outs, rotated)
    assert server.users["log-shipper"]["_password"] == "second-password-0123456789"
