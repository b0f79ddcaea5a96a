"""A source's or destination's configuration judged in the provider's `check` against the spec the Airbyte server
reports for its connector (the stand-in serves the connectors' specs from Airbyte's registry, through the
configuration API's `get...DefinitionSpecification`, and the definition through the public API): problems fail the
check naming the catalog source and the field; an Airbyte the check cannot reach is a warning, never a failure, and
the apply judges again before writing."""

from __future__ import annotations

import copy
import socket

import pytest

import components.ingestion.provider as airbyte
from components.ingestion.connectors import S3_DESTINATION
from components.ingestion.provider import DestinationProvider, SourceProvider, WorkspaceProvider
from components.kit.rest import UNKNOWN_INPUT, ProviderError, Retry
from infra.model.catalog import load_catalog
from tests.support.airbyte_server import API_PREFIX, CLIENT, CONFIG_API, CONFIG_API_PREFIX, FakeAirbyte, openapi
from tests.support.openapi import OpenApi

SOURCES = {source.name: source for source in load_catalog().sources}
EXCHANGE_RATES = str(SOURCES["api"].connector)


@pytest.fixture()
def server(pki):
    with FakeAirbyte.start(pki) as fake:
        yield fake


@pytest.fixture()
def warnings(monkeypatch) -> list[str]:
    said: list[str] = []
    monkeypatch.setattr(airbyte, "_warn", said.append)
    monkeypatch.setattr(airbyte, "_UNREACHABLE", {})
    return said


def connection(url: str, pki) -> dict:
    return {"url": url, "client_id": CLIENT[0], "client_secret": CLIENT[1], "ca_pem": pki.ca_pem, "timeout": 5}


def with_workspace(server, pki) -> None:
    WorkspaceProvider(Retry(sleep=lambda _s: None)).create(
        {"connection": connection(server.url, pki), "name": "platform", "notifications": {}})


def api_source(url: str, pki, configuration: dict, secrets: dict) -> dict:
    return {"connection": connection(url, pki), "workspace": "platform", "name": "api",
            "definition_id": EXCHANGE_RATES, "configuration": configuration, "secret_configuration": secrets}


def failures(props: dict) -> list[str]:
    return [failure.reason for failure in SourceProvider().check({}, props).failures]


def test_a_configuration_the_spec_admits_passes(server, pki, warnings):
    with_workspace(server, pki)
    props = api_source(server.url, pki, {"start_date": "2024-01-01", "base": "EUR"}, {"access_key": "key"})
    result = SourceProvider().check({}, props)
    assert result.failures == [] and result.inputs == props and warnings == []


def test_a_required_field_left_out_fails_naming_the_source_and_the_field(server, pki, warnings):
    with_workspace(server, pki)
    found = failures(api_source(server.url, pki, {"base": "EUR"}, {"access_key": "key"}))
    assert len(found) == 1
    assert "catalog source `api`" in found[0] and "field `start_date`" in found[0]
    assert "required by the connector's spec" in found[0]
    assert "airbyte/source-exchange-rates:" in found[0]  # the connector as the server reports it


def test_a_wrong_type_fails_naming_the_source_and_the_field(server, pki, warnings):
    with_workspace(server, pki)
    found = failures(api_source(server.url, pki, {"start_date": "2024-01-01", "ignore_weekends": "yes"},
                                {"access_key": "key"}))
    assert len(found) == 1
    assert "catalog source `api`" in found[0] and "field `ignore_weekends`" in found[0]
    assert "is not of type 'boolean'" in found[0]


def test_a_secret_given_in_plain_text_fails_and_says_where_it_belongs(server, pki, warnings):
    with_workspace(server, pki)
    found = failures(api_source(server.url, pki, {"start_date": "2024-01-01", "access_key": "in-clear"}, {}))
    assert len(found) == 1
    assert "catalog source `api`" in found[0] and "field `access_key`" in found[0]
    assert "airbyte_secret" in found[0]
    assert "dataplatform:ingestion.sources.api.secrets.access_key" in found[0]
    assert "in-clear" not in found[0]


def test_a_connector_the_server_does_not_have_fails(server, pki, warnings):
    with_workspace(server, pki)
    props = {**api_source(server.url, pki, {}, {}), "definition_id": "00000000-0000-4000-8000-000000000000"}
    found = failures(props)
    assert len(found) == 1 and "catalog source `api`" in found[0] and "00000000-0000" in found[0]


def test_every_built_in_configuration_and_the_bronze_destination_pass(server, pki, warnings):
    """What the program sends for the catalog's built-in kinds, judged by the server's specs (no warning)."""
    from tests.components.providers.test_airbyte import destination_props, source_props

    with_workspace(server, pki)
    for source in SOURCES.values():
        if source.kind == "rest_api":
            continue
        props = source_props(server, pki, name=source.name, source=source)
        assert SourceProvider().check({}, props).failures == [], source.name
    destination = destination_props(server, pki)
    assert destination["definition_id"] == S3_DESTINATION
    assert DestinationProvider().check({}, destination).failures == []
    assert warnings == []


def test_a_workspace_not_created_yet_is_stood_in_for_by_one_the_server_has(server, pki, warnings):
    """On a first `pulumi up` the check may run before the workspace exists: the spec is the instance's."""
    WorkspaceProvider(Retry(sleep=lambda _s: None)).create(
        {"connection": connection(server.url, pki), "name": "default", "notifications": {}})
    found = failures(api_source(server.url, pki, {"base": "EUR"}, {"access_key": "key"}))
    assert len(found) == 1 and "field `start_date`" in found[0]


def test_an_airbyte_that_cannot_be_reached_is_a_warning_not_a_failure(pki, warnings):
    """A preview in CI has no Airbyte: the check passes, says so once per resource, and asks the address once."""
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        url = f"https://127.0.0.1:{probe.getsockname()[1]}"
    props = api_source(url, pki, {"start_date": "2024-01-01", "access_key": "in-clear"}, {})
    for _ in range(2):
        result = SourceProvider().check({}, props)
        assert result.failures == [] and result.inputs == props
    assert len(warnings) == 2 and url in airbyte._UNREACHABLE
    for warning in warnings:
        assert "airbyte source 'api'" in warning and "cannot be reached" in warning and url in warning
        assert "`pulumi up` checks it before writing" in warning


def test_inputs_unknown_at_preview_are_a_warning(pki, warnings):
    props = api_source("https://airbyte.invalid", pki, {"start_date": "2024-01-01"}, UNKNOWN_INPUT)
    assert SourceProvider().check({}, props).failures == []
    assert len(warnings) == 1 and "known only when `pulumi up` runs" in warnings[0]
    assert airbyte._UNREACHABLE == {}  # nothing was asked


def test_the_apply_judges_again_and_writes_nothing_the_spec_refuses(server, pki, warnings):
    """`pulumi up` judges even when its preview could not: a plain secret never reaches Airbyte."""
    with_workspace(server, pki)
    props = api_source(server.url, pki, {"start_date": "2024-01-01", "access_key": "in-clear"}, {})
    with pytest.raises(ProviderError, match=r"catalog source `api`.*field `access_key`.*airbyte_secret"):
        SourceProvider(Retry(sleep=lambda _s: None)).create(copy.deepcopy(props))
    assert [r for r in server.writes() if r.path.endswith("/sources")] == []


def test_the_spec_is_asked_where_airbyte_defines_it(server, pki, warnings):
    """The definition through the public API (whose answer carries no spec), the spec through the configuration
    API; every request and answer held to the definitions."""
    with_workspace(server, pki)
    assert failures(api_source(server.url, pki, {"start_date": "2024-01-01"}, {"access_key": "k"})) == []
    asked = [(r.method, r.path) for r in server.requests if "definition" in r.path]
    workspace = next(iter(server.state.workspaces))
    assert asked == [("GET", f"{API_PREFIX}/workspaces/{workspace}/definitions/sources/{EXCHANGE_RATES}"),
                     ("POST", f"{CONFIG_API_PREFIX}/v1/source_definition_specifications/get")]
    definition = openapi().document["components"]["schemas"]["DefinitionResponse"]
    assert "connectionSpecification" not in definition["properties"]  # why the configuration API is asked
    config = OpenApi(CONFIG_API, prefix=CONFIG_API_PREFIX)
    operation, _ = config.operation("POST", f"{CONFIG_API_PREFIX}/v1/source_definition_specifications/get")
    assert operation.name == "getSourceDefinitionSpecification"
