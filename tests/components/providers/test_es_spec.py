"""The validator over the compiled Elasticsearch specification (tests/support/es_spec.py) agrees with the
specification's own examples for the endpoints the platform calls, refuses what the types refuse, and the provider
reads back exactly the fields the specification's create requests take."""

from __future__ import annotations

import json

import pytest

from components.logs import spec as logs_spec
from components.logs.provider import WRITABLE
from tests.support.es_spec import SpecModel

PLATFORM_ENDPOINTS = [f"{api}.{verb}_{what}" for api, what in (("indices", "index_template"), ("ilm", "lifecycle"),
                                                               ("security", "role"), ("security", "user"))
                      for verb in ("put", "get", "delete")]
FAMILIES = logs_spec.families(job_log_days=14, audit_days=90)


@pytest.fixture(scope="module")
def model() -> SpecModel:
    return SpecModel.load()


def examples(model: SpecModel, type_name: tuple[str, str]) -> list[tuple[str, object]]:
    found = []
    for name, example in (model.types[type_name].get("examples") or {}).items():
        try:
            found.append((name, json.loads(example["value"])))
        except (KeyError, json.JSONDecodeError):
            continue
    return found


def test_the_specifications_own_examples_for_the_platforms_endpoints_are_valid(model):
    checked = []
    for name in PLATFORM_ENDPOINTS:
        endpoint = model.endpoints[name]
        for example, body in examples(model, endpoint.request):
            assert model.request_problems(endpoint, {}, {}, body) == [], example
            checked.append(example)
        for example, body in examples(model, endpoint.response):
            assert model.response_problems(endpoint, 200, body) == [], example
            checked.append(example)
    assert len(checked) >= 15, checked


def test_routing_prefers_the_most_specific_pattern_and_decodes_parameters(model):
    endpoint, params = model.route("PUT", "/_index_template/airbyte-logs")
    assert (endpoint.name, params) == ("indices.put_index_template", {"name": "airbyte-logs"})
    assert model.route("GET", "/_security/user/a%20b")[1] == {"username": "a b"}
    assert model.route("GET", "/_index_template")[0].name == "indices.get_index_template"
    assert model.route("PATCH", "/_index_template/x") is None
    assert model.methods_for("/_index_template/x") == {"PUT", "POST", "GET", "DELETE", "HEAD"}


def put(model, path: str, body, query=None) -> list[str]:
    endpoint, params = model.route("PUT", path)
    return model.request_problems(endpoint, params, query or {}, body)


def test_the_platforms_bodies_fit_their_request_types(model):
    for family in FAMILIES:
        assert put(model, f"/_index_template/{family.name}", logs_spec.index_template(family, 1)) == []
        assert put(model, f"/_ilm/policy/{family.name}", {"policy": logs_spec.ilm_policy(family)}) == []
    for role in (logs_spec.writer_role(FAMILIES), logs_spec.reader_role(FAMILIES)):
        assert put(model, "/_security/role/r", role) == []


def test_closed_types_refuse_unknown_fields_and_required_ones_must_be_there(model):
    assert put(model, "/_ilm/policy/p", {"policy": {"phases": {}, "phase": {}}}) == [
        "body.policy: unknown field [phase]"]
    assert put(model, "/_ilm/policy/p", {"policy": {}}) == ["body.policy: required field [phases] is missing"]
    assert put(model, "/_security/role/r", {"indices": [{"names": ["a-*"]}]}) == [
        "body.indices[0]: required field [privileges] is missing"]
    assert put(model, "/_security/user/u", {"roles": "superuser"}) == [
        "body.roles: expected an array, got a string"]
    endpoint, params = model.route("GET", "/_security/user/u")
    assert model.request_problems(endpoint, params, {}, {"roles": []}) == ["body: security.get_user takes no body"]
    endpoint, params = model.route("PUT", "/_security/user/u")
    assert model.request_problems(endpoint, params, {}, None) == ["body: security.put_user requires a body"]


def test_kinds_enums_unions_and_tagged_unions(model):
    template = logs_spec.index_template(FAMILIES[0], 0)
    template["template"]["mappings"]["dynamic"] = "sometimes"
    template["template"]["mappings"]["properties"]["level"] = {"type": "keyword", "ignore_above": 1.5}
    template["template"]["mappings"]["properties"]["message"] = {"type": "text", "fielddata": "yes"}
    template["index_patterns"] = 7
    problems = put(model, "/_index_template/t", template)
    assert "body.template.mappings.dynamic: 'sometimes' is not one of _types.mapping.DynamicMapping " \
           "['false', 'runtime', 'strict', 'true']" in problems
    assert "body.template.mappings.properties.level.ignore_above: expected a whole number, got 1.5" in problems
    assert "body.template.mappings.properties.message.fielddata: expected boolean, got a string 'yes'" in problems
    assert any(problem.startswith("body.index_patterns: expected") for problem in problems)
    assert len(problems) == 4


def test_settings_take_the_string_forms_the_server_keeps_and_answers(model):
    body = {"index_patterns": ["x-*"], "template": {"settings": {"index": {
        "number_of_shards": "1", "lifecycle": {"parse_origination_date": "true"}, "hidden": "false"}}}}
    assert put(model, "/_index_template/x", body) == []
    body["template"]["settings"]["index"]["lifecycle"]["parse_origination_date"] = "perhaps"
    assert put(model, "/_index_template/x", body) == [
        "body.template.settings.index.lifecycle.parse_origination_date: expected boolean, got a string 'perhaps'"]
    assert put(model, "/_security/user/u", {"roles": [], "enabled": "true"}) == [
        "body.enabled: expected boolean, got a string 'true'"], "outside settings a boolean is a JSON boolean"


def test_query_parameters_are_the_declared_ones_with_their_kinds(model):
    assert put(model, "/_index_template/x", {"index_patterns": "x-*"}, {"create": ["true"], "pretty": [""],
                                                                          "master_timeout": ["30s"]}) == []
    assert put(model, "/_index_template/x", {"index_patterns": "x-*"}, {"create": ["yes"], "force": ["true"]}) == [
        "query.create: expected boolean, got a string 'yes'",
        "query: unknown parameter [force] for indices.put_index_template"]


def test_answers_are_checked_with_the_server_fields_the_specification_lacks(model):
    get_policy = model.endpoints["ilm.get_lifecycle"]
    answer = {"p": {"version": 1, "modified_date": "2026-01-01T00:00:00.000Z", "policy": {"phases": {}},
                    "in_use_by": {"indices": [], "data_streams": [], "composable_templates": []}}}
    assert model.response_problems(get_policy, 200, answer) == []
    del answer["p"]["version"]
    assert model.response_problems(get_policy, 200, answer) == ["body.p: required field [version] is missing"]
    get_user = model.endpoints["security.get_user"]
    assert model.response_problems(get_user, 404, {}) == []
    assert model.response_problems(get_user, 200, {"u": {"username": "u", "roles": [], "metadata": {},
                                                         "enabled": True, "password": "x"}}) == [
        "body.u: unknown field [password]"]
    error = {"error": {"root_cause": [], "type": "x", "reason": "y"}, "status": 404}
    assert model.response_problems(model.endpoints["indices.get_index_template"], 404, error) == []
    assert model.response_problems(model.endpoints["indices.get_index_template"], 404, {}) != []
    template = {"index_templates": [{"name": "t", "index_template": {
        "index_patterns": ["t-*"], "composed_of": [], "created_date_millis": 1767225600000,
        "modified_date_millis": "soon"}}]}
    assert model.response_problems(model.endpoints["indices.get_index_template"], 200, template) == [
        "body.index_templates[0].index_template.modified_date_millis: expected number, got a string 'soon'"]


def test_the_provider_reads_back_exactly_what_the_create_requests_take(model):
    assert WRITABLE["index_template"] == model.body_properties(("indices.put_index_template", "Request"))
    assert WRITABLE["index_template.template"] == model.body_properties(
        ("indices.put_index_template", "IndexTemplateMapping"))
    assert WRITABLE["role"] == model.body_properties(("security.put_role", "Request")) - {"transient_metadata"}
    assert WRITABLE["user"] == model.body_properties(("security.put_user", "Request")) - {
        "username", "password", "password_hash"}
    assert model.body_properties(("ilm.put_lifecycle", "Request")) == {"policy"}
