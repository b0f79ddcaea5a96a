"""The Elasticsearch providers against a server that answers as a 9.x server, derived from the vendor's specification:
idempotent CRUD, drift, retries, TLS verification, version-pinned compatibility headers, the server's rejections,
and no secret in state. Every test ends with no request or answer outside the specification (the fixture checks)."""

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
    SlmPolicyProvider,
    SnapshotRepositoryProvider,
    UserProvider,
)
from tests.support.elasticsearch_server import ADMIN, FakeElasticsearch
from tests.support.tls import make_pki

FAMILIES = logs_spec.families(job_log_days=14, audit_days=90)
AIRBYTE, _DBT, AUDIT = FAMILIES


@pytest.fixture()
def server(pki):
    with FakeElasticsearch.start(pki) as fake:
        yield fake
    assert fake.violations == []


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
    "unknown top-level field": (lambda body: body.update(index_pattern=["x-*"]), "body: unknown field [index_pattern]"),
    "a value of the wrong kind": (lambda body: body.update(priority="high"), "body.priority: expected number"),
    "a server-managed field": (lambda body: body.update(created_date_millis=1), "unknown field [created_date_millis]"),
    "unknown mapping type": (
        lambda body: body["template"]["mappings"]["properties"].update(level={"type": "string"}),
        "No handler for type [string] declared on field [level]",
    ),
    "unknown mapping parameter": (
        lambda body: body["template"]["mappings"]["properties"].update(level={"type": "keyword", "format": "x"}),
        "body.template.mappings.properties.level: unknown field [format]",
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


# ---- the 9.x server's answers and the refresh contract ---------------------------------------------------------

DYNAMIC = "pulumi-python:dynamic/elasticsearch:"
PROVIDERS = {"IndexTemplate": IndexTemplateProvider, "IlmPolicy": IlmPolicyProvider, "Role": RoleProvider,
             "User": UserProvider, "SnapshotRepository": SnapshotRepositoryProvider, "SlmPolicy": SlmPolicyProvider}
INPUTS = {"IndexTemplate": ("name", "body"), "IlmPolicy": ("name", "policy"), "Role": ("name", "role"),
          "User": ("name", "roles", "full_name", "password"), "SnapshotRepository": ("name", "repository"),
          "SlmPolicy": ("name", "policy")}
# A field of each kind changed by hand on the server (what a refresh must show as drift).
DRIFT = {
    "IndexTemplate": lambda server, name: server.templates[name].update(priority=999),
    "IlmPolicy": lambda server, name: server.policies[name]["policy"]["phases"]["delete"].update(min_age="1d"),
    # A cluster privilege added by hand: every planned role has a cluster list (the exporter's has no indices).
    "Role": lambda server, name: server.roles[name].setdefault("cluster", []).append("manage_security"),
    "User": lambda server, name: server.users[name].update(roles=[*server.users[name]["roles"], "superuser"]),
    "SnapshotRepository": lambda server, name: server.repositories[name]["settings"].update(base_path="elsewhere"),
    "SlmPolicy": lambda server, name: server.slm_policies[name]["policy"]["retention"].update(expire_after="1d"),
}


def planned_objects(stack: str) -> list[tuple[str, dict]]:
    """Every Elasticsearch dynamic resource of the stack's plan: (kind, the provider's inputs without connection)."""
    from tests.support.recordings import record_logs

    objects = []
    for resource in record_logs(stack):
        if resource.type.startswith(DYNAMIC):
            kind = resource.type.removeprefix(DYNAMIC)
            objects.append((kind, {key: resource.input(key) for key in INPUTS[kind]}))
    return sorted(objects, key=lambda item: (item[0], item[1]["name"]))  # registration order varies between runs


PLANNED = {stack: planned_objects(stack) for stack in ("dev", "prod")}
CASES = [(stack, kind, props) for stack, objects in PLANNED.items() for kind, props in objects]


def test_the_plans_declare_these_kinds_only():
    assert {kind for _stack, kind, _props in CASES} == set(PROVIDERS)
    # per family a policy and a template (3), the writer and reader roles, the shipper user, the audit and job-log
    # snapshot policies and a repository for each, and the snapshot exporter's role and user
    assert len(PLANNED["dev"]) == len(PLANNED["prod"]) == 15


def apply_plan(server, pki, objects) -> list[tuple[str, dict, object]]:
    """Create every object in plan order (policies and roles before the templates and users naming them)."""
    created = []
    order = ["IlmPolicy", "Role", "IndexTemplate", "User", "SnapshotRepository", "SlmPolicy"]
    for kind, props in sorted(objects, key=lambda item: order.index(item[0])):
        provider = PROVIDERS[kind](Retry(sleep=lambda _: None))
        full = {"connection": connection(server, pki), **copy.deepcopy(props)}
        created.append((kind, full, provider.create(full)))
    return created


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_call_of_a_plan_is_an_endpoint_of_the_specification(server, pki, stack):
    created = apply_plan(server, pki, PLANNED[stack])
    for kind, props, result in created:  # second apply, refresh, then delete
        provider = PROVIDERS[kind](Retry(sleep=lambda _: None))
        provider.update(result.id, result.outs, props)
        provider.read(result.id, result.outs)
    for kind, _props, result in reversed(created):
        PROVIDERS[kind](Retry(sleep=lambda _: None)).delete(result.id, result.outs)
    assert (server.templates, server.policies, server.roles, server.users) == ({}, {}, {}, {})
    assert (server.repositories, server.slm_policies) == ({}, {})
    assert server.refused == [] and server.violations == []
    assert all(request.endpoint for request in server.requests)
    assert {request.endpoint for request in server.requests} == {
        f"{api}.{verb}_{what}" for api, what in (("indices", "index_template"), ("ilm", "lifecycle"),
                                                 ("security", "role"), ("security", "user"))
        for verb in ("put", "get", "delete")} | {
        "snapshot.create_repository", "snapshot.get_repository", "snapshot.delete_repository",
        "slm.put_lifecycle", "slm.get_lifecycle", "slm.delete_lifecycle"}


@pytest.mark.parametrize(("stack", "kind", "props"), CASES,
                         ids=[f"{stack}-{kind}-{props['name']}" for stack, kind, props in CASES])
def test_refresh_shows_no_change_after_create_and_drift_after_a_change_on_the_server(server, pki, stack, kind,
                                                                                     props):
    del stack
    if kind == "SlmPolicy":  # a policy names its repository, which must exist
        SnapshotRepositoryProvider(Retry(sleep=lambda _: None)).create({
            "connection": connection(server, pki), "name": props["policy"]["repository"],
            "repository": logs_spec.repository("dataplatform-dev-backups", "elasticsearch/x")})
    for other_kind, other_props in ([("Role", {"name": name, "role": logs_spec.reader_role(FAMILIES)})
                                     for name in props.get("roles") or []]):
        PROVIDERS[other_kind](Retry(sleep=lambda _: None)).create({"connection": connection(server, pki),
                                                                   **other_props})
    provider = PROVIDERS[kind](Retry(sleep=lambda _: None))
    desired = {"connection": connection(server, pki), **copy.deepcopy(props)}
    created = provider.create(desired)
    refreshed = provider.read(created.id, created.outs)
    assert refreshed.id == created.id
    assert refreshed.outs["spec_hash"] == created.outs["spec_hash"], "the live object must read back as applied"
    assert provider.diff(created.id, refreshed.outs, copy.deepcopy(desired)).changes is False
    DRIFT[kind](server, props["name"])
    drifted = provider.read(created.id, refreshed.outs)
    assert drifted.outs["spec_hash"] != created.outs["spec_hash"]
    assert provider.diff(created.id, drifted.outs, copy.deepcopy(desired)).changes is True
    provider.update(created.id, drifted.outs, desired)  # the next apply puts it back
    assert provider.read(created.id, created.outs).outs["spec_hash"] == created.outs["spec_hash"]


def raw(server, pki, method: str, path: str, **options):
    from components.logs.provider import client

    return client(connection(server, pki)).perform_request(method, path, headers={"accept": (
        "application/vnd.elasticsearch+json; compatible-with=9")}, **options)


def test_index_templates_carry_the_dates_a_9_2_server_adds_and_refresh_ignores_them(server, pki):
    provider = IndexTemplateProvider(Retry(sleep=lambda _: None))
    props = template_props(server, pki)
    created = provider.create(props)
    first = raw(server, pki, "GET", "/_index_template/airbyte-logs").body["index_templates"][0]["index_template"]
    assert isinstance(first["created_date_millis"], int) and first["created_date_millis"] == first[
        "modified_date_millis"]
    assert "created_date" not in first, "the readable dates come only with ?human=true"
    provider.update(created.id, created.outs, props)
    human = raw(server, pki, "GET", "/_index_template/airbyte-logs", params={"human": "true"}).body
    second = human["index_templates"][0]["index_template"]
    assert second["created_date_millis"] == first["created_date_millis"] < second["modified_date_millis"]
    assert second["created_date"].endswith("Z") and second["modified_date"] != second["created_date"]
    assert second["template"]["settings"]["index"]["lifecycle"] == {"name": "airbyte-logs",
                                                                    "parse_origination_date": "true"}
    assert provider.read(created.id, created.outs).outs["spec_hash"] == created.outs["spec_hash"]


def test_ilm_answers_carry_version_modified_date_and_users(server, pki):
    IlmPolicyProvider(Retry(sleep=lambda _: None)).create(
        {"connection": connection(server, pki), "name": "airbyte-logs", "policy": logs_spec.ilm_policy(AIRBYTE)})
    IndexTemplateProvider(Retry(sleep=lambda _: None)).create(template_props(server, pki))
    IlmPolicyProvider(Retry(sleep=lambda _: None)).create(
        {"connection": connection(server, pki), "name": "airbyte-logs", "policy": logs_spec.ilm_policy(AIRBYTE)})
    answer = raw(server, pki, "GET", "/_ilm/policy/airbyte-logs").body["airbyte-logs"]
    assert answer["version"] == 2 and answer["modified_date"].endswith("Z")
    assert answer["in_use_by"] == {"indices": [], "data_streams": [], "composable_templates": ["airbyte-logs"]}


def test_a_password_is_never_answered_and_an_answer_that_leaked_one_would_be_caught(server, pki):
    props = {"connection": connection(server, pki), "name": "log-shipper", "roles": [], "full_name": None,
             "password": "a-password-0123456789"}
    UserProvider(Retry(sleep=lambda _: None)).create(props)
    answer = raw(server, pki, "GET", "/_security/user/log-shipper").body["log-shipper"]
    assert "a-password" not in json.dumps(answer)
    assert set(answer) == {"username", "roles", "full_name", "email", "metadata", "enabled"}
    server.users["log-shipper"]["password"] = "a-password-0123456789"  # a fake that forgot to mask it
    with pytest.raises(Exception, match="fake_answer_outside_specification"):
        raw(server, pki, "GET", "/_security/user/log-shipper")
    assert server.violations == ["GET /_security/user/log-shipper answered 200 outside security.get_user's response "
                                 "type: body.log-shipper: unknown field [password]"]
    server.violations.clear()


def test_calls_outside_the_specification_are_refused_as_the_server_refuses_them(server, pki):
    with pytest.raises(Exception, match="no handler found for uri"):
        raw(server, pki, "GET", "/_security/rolez/x")
    with pytest.raises(Exception, match=r"unknown parameter \[verbose\]"):
        raw(server, pki, "GET", "/_security/role/x", params={"verbose": "true"})
    with pytest.raises(Exception, match="Incorrect HTTP method"):
        raw(server, pki, "PATCH", "/_index_template/x")
    assert server.violations == ["GET /_security/rolez/x: no endpoint of the specification",
                                 "PATCH /_index_template/x: no endpoint of the specification"]
    assert server.refused == ["GET /_security/role/x: query: unknown parameter [verbose] for security.get_role"]
    server.violations.clear()


# ---- snapshots ------------------------------------------------------------------------------------------------

POLICIES = logs_spec.snapshot_policies(FAMILIES, 90, 14, 24)


def snapshot_objects(server, pki) -> tuple[list[dict], list[dict]]:
    repositories = [{"connection": connection(server, pki), "name": policy.repository,
                     "repository": logs_spec.policy_repository(policy, "dataplatform-dev-backups")}
                    for policy in POLICIES]
    policies = [{"connection": connection(server, pki), "name": policy.name, "policy": logs_spec.slm_policy(policy)}
                for policy in POLICIES]
    return repositories, policies


def test_a_snapshot_policy_needs_its_repository_and_a_repository_the_nodes_cannot_reach_fails(server, pki, slept):
    repositories, policies = snapshot_objects(server, pki)
    with pytest.raises(ProviderError, match=r"no such repository \[platform-audit-snapshots\]"):
        SlmPolicyProvider(Retry(sleep=slept.append)).create(policies[0])
    server.unreachable_buckets.add("dataplatform-dev-backups")
    with pytest.raises(ProviderError, match="repository_verification_exception"):
        SnapshotRepositoryProvider(Retry(attempts=2, sleep=slept.append)).create(repositories[0])
    assert server.repositories == {} and slept == [0.5], "a failed verification is retried (it may be IAM settling)"


def test_each_snapshot_policy_writes_to_its_own_repository_and_keeps_the_audit_retention(server, pki):
    repositories, policies = snapshot_objects(server, pki)
    for props in repositories:
        SnapshotRepositoryProvider(Retry(sleep=lambda _: None)).create(props)
    for props in policies:
        SlmPolicyProvider(Retry(sleep=lambda _: None)).create(props)
    audit = server.slm_policies[logs_spec.AUDIT_SNAPSHOTS]["policy"]
    assert audit["config"]["indices"] == ["platform-audit-*"] and audit["retention"]["expire_after"] == "90d"
    assert audit["retention"]["max_count"] >= 90, "max_count must never delete a snapshot before it expires"
    assert audit["schedule"] == "0 0 1 * * ?" and audit["repository"] == "platform-audit-snapshots"
    jobs = server.slm_policies[logs_spec.JOB_LOG_SNAPSHOTS]["policy"]
    assert jobs["config"]["indices"] == ["airbyte-logs-*", "dbt-runs-*"] and jobs["retention"]["expire_after"] == "14d"
    assert jobs["repository"] == "job-log-snapshots"
    six_hourly = logs_spec.snapshot_policies(FAMILIES, 90, 14, 6)[0]
    assert logs_spec.slm_policy(six_hourly)["retention"]["max_count"] >= 4 * 90
    assert {name: repository["settings"] for name, repository in server.repositories.items()} == {
        "platform-audit-snapshots": {"bucket": "dataplatform-dev-backups",
                                     "base_path": "elasticsearch/platform-audit-snapshots", "client": "backups"},
        "job-log-snapshots": {"bucket": "dataplatform-dev-backups", "base_path": "elasticsearch/job-log-snapshots",
                              "client": "backups"}}


def test_the_legacy_repository_is_registered_read_only_and_takes_no_snapshot(server, pki):
    legacy = {"connection": connection(server, pki), "name": logs_spec.LEGACY_REPOSITORY,
              "repository": logs_spec.legacy_repository("dataplatform-dev-backups")}
    provider = SnapshotRepositoryProvider(Retry(sleep=lambda _: None))
    created = provider.create(legacy)
    assert server.repositories["platform-backups"]["settings"] == {
        "bucket": "dataplatform-dev-backups", "base_path": "elasticsearch", "client": "backups", "readonly": "true"}
    assert provider.read(created.id, created.outs).outs["spec_hash"] == created.outs["spec_hash"]
    writing_there = logs_spec.slm_policy(POLICIES[0]) | {"repository": logs_spec.LEGACY_REPOSITORY}
    SlmPolicyProvider(Retry(sleep=lambda _: None)).create(
        {"connection": connection(server, pki), "name": "writes-to-legacy", "policy": writing_there})
    server.add_index("platform-audit-2026.01.01")
    name = raw(server, pki, "PUT", "/_slm/policy/writes-to-legacy/_execute").body["snapshot_name"]
    assert server.snapshots["platform-backups"] == {}
    assert server.slm_policies["writes-to-legacy"]["last_failure"]["snapshot_name"] == name
    assert server.failures == ["[platform-backups] cannot create snapshot in a readonly repository"]
