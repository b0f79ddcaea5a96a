"""The Airbyte providers against a server that answers as Airbyte 2.1's public API does
(tests/support/airbyte_server.py, derived from Airbyte's definitions): payloads valid against the OpenAPI document
and the connectors' specs, CRUD, refresh that converges for every resource type and shows drift, secrets compared
by hash, faults and TLS."""

from __future__ import annotations

import copy
import json
import typing

import httpx
import jsonschema
import pytest

from components.ingestion.connectors import KIND_DEFINITIONS, S3_DESTINATION, merge, nest
from components.ingestion.provider import (
    BRONZE_PATH_FORMAT,
    MASK,
    ConnectionProvider,
    DestinationProvider,
    SourceProvider,
    WorkspaceProvider,
    destination_path,
    notification_settings,
    s3_destination,
    s3_destination_secrets,
    source_configuration,
    source_secrets,
    stream_configurations,
)
from components.kit.rest import ProviderError, Retry
from infra.model.catalog import Codec, Source, load_catalog
from infra.model.schedules import quartz_cron
from tests.support.airbyte_server import CLIENT, FakeAirbyte, connector_spec, masked, openapi
from tests.support.golden import check_golden
from tests.support.tls import make_pki
from tests.support.vendor_specs import vendor_spec

CATALOG = load_catalog()
SOURCES = {source.name: source for source in CATALOG.sources}
BRONZE_CODEC = CATALOG.lake.layer("bronze").codec
POSTGRES = SOURCES["postgres"]
ENDPOINTS = {  # where a source of each kind lives in these tests
    "postgres": {"host": "orders-db.example.internal", "database": "shop", "username": "airbyte"},
    "mysql": {"host": "shop-mysql.example.internal", "database": "shop", "username": "airbyte"},
    "mongodb": {"host": "reviews.example.internal", "database": "reviews", "username": "airbyte"},
    "rest_api": {"url": "https://api.apilayer.com", "configuration": {"start_date": "2024-01-01", "base": "EUR"},
                 "secrets": {"access_key": "rates-key"}},
    "csv_files": {"bucket": "marketing-drops", "region": "eu-west-1", "username": "AKIAEXAMPLE"},
}
CA = "-----BEGIN CERTIFICATE-----\nTEST\n-----END CERTIFICATE-----\n"


def definition(source: Source) -> str:
    return str(source.connector) if source.connector else KIND_DEFINITIONS[source.kind]


@pytest.fixture()
def server(pki):
    with FakeAirbyte.start(pki) as fake:
        yield fake


@pytest.fixture()
def slept() -> list[float]:
    return []


def connection(server, pki) -> dict:
    return {"url": server.url, "client_id": CLIENT[0], "client_secret": CLIENT[1], "ca_pem": pki.ca_pem,
            "timeout": 5}


def rendered(source: Source, ca: str = CA) -> tuple[dict, dict]:
    endpoint = ENDPOINTS[source.kind]
    return source_configuration(source, endpoint), source_secrets(source, endpoint, "pw", ca)


def rendered_payloads(sources: dict = SOURCES) -> dict:
    configurations = {name: {"definitionId": definition(source), "configuration": rendered(source)[0]}
                      for name, source in sources.items()}
    destinations = {name: s3_destination(name, "dp-dev-bronze", "us-east-1", "https://minio.dp-storage.svc:9000",
                                         BRONZE_CODEC) for name in sources}
    connections = {name: {"cron": quartz_cron(source.schedule), "configurations": stream_configurations(source)}
                   for name, source in sources.items()}
    return {"sources": configurations, "destinations": destinations, "connections": connections}


# ---- payloads against Airbyte's definitions -------------------------------------------------------


def test_payloads_match_the_golden_file():
    check_golden("providers/airbyte_payloads.json", json.dumps(rendered_payloads(), indent=2, sort_keys=True) + "\n")


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_every_catalog_source_is_valid_for_its_connector_and_the_api(name):
    source = SOURCES[name]
    plain, secret = rendered(source)
    configuration = merge(plain, secret)
    spec = connector_spec("source", definition(source))
    jsonschema.Draft7Validator(spec).validate(configuration)
    body = {"name": name, "workspaceId": "df08f6b0-b364-4cc1-9b3f-96f5d2fccfb2", "definitionId": definition(source),
            "configuration": configuration}
    operation, params = openapi().operation("POST", "/api/public/v1/sources")
    openapi().check_request(operation, params, {}, "application/json", body)
    # Nothing the server answers masked is in the part compared in plain: refresh would otherwise always differ.
    assert masked(plain, spec) == plain, name


def test_the_bronze_destination_is_valid_for_the_s3_connector_and_hides_nothing_it_masks():
    spec = vendor_spec("airbyte/connectors/destination-s3-1.9.1.spec.json")["connectionSpecification"]
    assert spec == connector_spec("destination", S3_DESTINATION)
    plain = s3_destination("postgres", "b", "us-east-1", None, BRONZE_CODEC)
    jsonschema.Draft7Validator(spec).validate(merge(plain, s3_destination_secrets("AKIA", "secret")))
    assert masked(plain, spec) == plain


def test_cdc_streams_are_sent_no_cursor_and_the_others_keep_theirs():
    for source in CATALOG.sources:
        for stream in stream_configurations(source)["streams"]:
            assert ("cursorField" in stream) == (source.replication != "cdc" and stream["syncMode"].startswith(
                "incremental")), (source.name, stream)
    standard = POSTGRES.model_copy(update={"replication": "standard", "streams": [
        s.model_copy(update={"cursor_field": "updated_at"}) for s in POSTGRES.streams]})
    assert {s["name"]: s["cursorField"] for s in stream_configurations(standard)["streams"]} == {
        "customers": ["updated_at"], "orders": ["updated_at"]}


def test_tls_verifies_certificates_in_every_source():
    for name, source in SOURCES.items():
        plain, secret = rendered(source)
        if source.kind == "postgres":
            assert (plain["ssl_mode"], secret["ssl_mode"]) == ({"mode": "verify-full"}, {"ca_certificate": CA}), name
        elif source.kind == "mysql":
            assert (plain["ssl_mode"], secret["ssl_mode"]) == ({"mode": "verify_identity"}, {"ca_certificate": CA})
        elif source.kind == "mongodb":
            assert plain["database_config"]["connection_string"].endswith("/?tls=true"), name
    for kind in ("rest_api", "csv_files"):
        plain_http = SOURCES["api"].model_copy(update={"kind": kind})
        with pytest.raises(ValueError, match="not https"):
            source_configuration(plain_http, {**ENDPOINTS[kind], "url": "http://rates.example.com"})
    with pytest.raises(ValueError, match="not https"):
        s3_destination("postgres", "b", "us-east-1", "http://minio:9000", BRONZE_CODEC)


def test_destination_paths_follow_the_lake_layout():
    for dataset in CATALOG.bronze_datasets():
        configuration = s3_destination(dataset.source, "b", "us-east-1", None, BRONZE_CODEC)
        assert destination_path(configuration, dataset.stream) == dataset.prefix
        assert configuration["s3_path_format"] == BRONZE_PATH_FORMAT


def test_every_catalog_parquet_codec_is_one_the_s3_destination_defines():
    spec = vendor_spec("airbyte/connectors/destination-s3-1.9.1.spec.json")
    parquet = next(option for option in spec["connectionSpecification"]["properties"]["format"]["oneOf"]
                   if option["properties"]["format_type"]["enum"] == ["Parquet"])
    defined = parquet["properties"]["compression_codec"]["enum"]
    allowed = typing.get_args(Codec)
    assert sorted(codec.upper() for codec in allowed) == sorted(defined)


def test_the_connector_specs_beside_the_registry_are_the_registry_s():
    for kind, file in (("postgres", "source-postgres-3.7.0"), ("mysql", "source-mysql-3.50.6"),
                       ("mongodb", "source-mongodb-v2-2.0.3"), ("csv_files", "source-s3-4.14.1")):
        spec = vendor_spec(f"airbyte/connectors/{file}.spec.json")["connectionSpecification"]
        assert spec == connector_spec("source", KIND_DEFINITIONS[kind]), kind


# ---- the resources against the server ---------------------------------------------------------------


def workspace_props(server, pki, email=True) -> dict:
    return {"connection": connection(server, pki), "name": "platform",
            "notifications": {"failure": {"email": {"enabled": email}}}}


def source_props(server, pki, password="pw-1", name="postgres", source: Source = POSTGRES) -> dict:
    plain, secret = rendered(source, pki.ca_pem)
    if source.kind != "rest_api":
        secret = source_secrets(source, ENDPOINTS[source.kind], password, pki.ca_pem)
    return {"connection": connection(server, pki), "workspace": "platform", "name": name,
            "definition_id": definition(source), "configuration": plain, "secret_configuration": secret}


def destination_props(server, pki, name="bronze-postgres") -> dict:
    return {"connection": connection(server, pki), "workspace": "platform", "name": name,
            "definition_id": S3_DESTINATION,
            "configuration": s3_destination(name.removeprefix("bronze-"), "dp-dev-bronze", "us-east-1", None,
                                            BRONZE_CODEC),
            "secret_configuration": s3_destination_secrets("ingestion-key", "s3-secret")}


def connection_props(server, pki, cron=None, source: Source = POSTGRES) -> dict:
    return {"connection": connection(server, pki), "workspace": "platform", "name": f"{source.name}-to-bronze",
            "source": source.name, "destination": f"bronze-{source.name}",
            "cron": cron or quartz_cron(source.schedule), "configurations": stream_configurations(source),
            "source_defined_cursors": [s.name for s in source.streams if source.replication == "cdc"]}


def apply_all(server, pki, slept, sources=(POSTGRES,)):
    retry = Retry(sleep=slept.append)
    outs = {"workspace": (WorkspaceProvider(retry), workspace_props(server, pki))}
    outs["workspace"] += (outs["workspace"][0].create(outs["workspace"][1]),)
    for source in sources:
        for kind, provider, props in (
                ("source", SourceProvider(retry), source_props(server, pki, name=source.name, source=source)),
                ("destination", DestinationProvider(retry), destination_props(server, pki, f"bronze-{source.name}")),
                ("connection", ConnectionProvider(retry), connection_props(server, pki, source=source))):
            outs[f"{kind}-{source.name}"] = (provider, props, provider.create(props))
    return outs


def test_every_resource_of_every_catalog_source_converges(server, pki, slept):
    """Create, then a second apply and a refresh: no change for the workspace and every source, destination and
    connection of the catalog; the server wrote nothing more."""
    outs = apply_all(server, pki, slept, sources=tuple(CATALOG.sources))
    assert len(outs) == 1 + 3 * len(CATALOG.sources)
    writes = len(server.writes())
    for name, (provider, props, created) in outs.items():
        assert provider.diff(created.id, created.outs, copy.deepcopy(props)).changes is False, name
        refreshed = provider.read(created.id, created.outs)
        assert refreshed.outs["spec_hash"] == created.outs["spec_hash"], name
        assert provider.diff(created.id, refreshed.outs, copy.deepcopy(props)).changes is False, name
    assert len(server.writes()) == writes


def test_a_change_on_the_server_shows_as_drift_for_every_type(server, pki, slept):
    outs = apply_all(server, pki, slept)
    workspace = next(iter(server.state.workspaces.values()))
    source = next(iter(server.state.sources.values()))
    destination = next(iter(server.state.destinations.values()))
    connection_row = next(iter(server.state.connections.values()))
    edits = {
        "workspace": lambda: workspace["notifications"]["success"]["email"].update(enabled=True),
        "source-postgres": lambda: source["configuration"].update(port=6543),
        "destination-postgres": lambda: destination["configuration"].update(s3_bucket_path="elsewhere"),
        "connection-postgres": lambda: connection_row.update(status="inactive"),
    }
    for name, edit in edits.items():
        provider, _props, created = outs[name]
        edit()
        assert provider.read(created.id, created.outs).outs["spec_hash"] != created.outs["spec_hash"], name


def test_secrets_are_compared_by_hash_never_by_the_masked_answer(server, pki, slept):
    outs = apply_all(server, pki, slept)
    provider, _props, created = outs["source-postgres"]
    stored = next(iter(server.state.sources.values()))
    live = httpx_get(server, pki, f"/sources/{stored['sourceId']}")
    assert live["configuration"]["password"] == MASK and live["configuration"]["username"] == "airbyte"
    assert live["configuration"]["ssl_mode"]["ca_certificate"] == MASK
    # A rotated password is a change (by hash), and reaches the server; refresh still converges afterwards.
    rotated = source_props(server, pki, password="pw-2")
    assert provider.diff(created.id, created.outs, rotated).changes is True
    updated = provider.update(created.id, created.outs, rotated)
    assert stored["configuration"]["password"] == "pw-2"
    assert provider.read(created.id, updated.outs).outs["spec_hash"] == updated.outs["spec_hash"]
    state = json.dumps({name: {k: v for k, v in out.outs.items() if k != "connection"}
                        for name, (_, _, out) in outs.items()})
    assert "pw-1" not in state and "s3-secret" not in state and "ingestion-key" not in state


def httpx_get(server, pki, path: str) -> dict:
    import ssl

    context = ssl.create_default_context(cadata=pki.ca_pem)
    with httpx.Client(verify=context) as http:
        token = http.post(f"{server.url}/api/public/v1/applications/token", json={
            "grant_type": "client_credentials", "client_id": CLIENT[0], "client_secret": CLIENT[1]}).json()
        return http.get(f"{server.url}/api/public/v1{path}",
                        headers={"Authorization": f"Bearer {token['access_token']}"}).json()


def test_the_stored_objects_are_what_airbyte_stores(server, pki, slept):
    apply_all(server, pki, slept)
    source = next(iter(server.state.sources.values()))
    assert "sourceType" not in source["configuration"] and source["definitionId"] == KIND_DEFINITIONS["postgres"]
    assert source["sourceType"] == "postgres"
    stored = next(iter(server.state.connections.values()))
    assert stored["schedule"] == {"scheduleType": "cron", "cronExpression": "0 0/30 * * * ?"}
    answer = httpx_get(server, pki, f"/connections/{stored['connectionId']}")
    assert answer["schedule"]["cronExpression"] == "0 0/30 * * * ? UTC"
    assert {s["name"]: s.get("cursorField") for s in answer["configurations"]["streams"]} == {
        "customers": ["_ab_cdc_lsn"], "orders": ["_ab_cdc_lsn"]}
    workspace = httpx_get(server, pki, f"/workspaces/{next(iter(server.state.workspaces))}")
    assert workspace["notifications"] == notification_settings({"failure": {"email": {"enabled": True}}})


def test_requests_are_json_and_defined_by_the_api(server, pki, slept):
    apply_all(server, pki, slept, sources=tuple(CATALOG.sources))
    token = next(r for r in server.requests if r.path.endswith("/applications/token"))
    assert token.content_type == "application/json"
    for request in server.writes():
        operation, params = openapi().operation(request.method, request.path)
        openapi().check_request(operation, params, {}, request.content_type if request.body is not None
                                else "application/json", request.body)
        if request.path.endswith(("/sources", "/destinations")) and request.method == "POST":
            assert request.body["definitionId"] and "sourceType" not in request.body["configuration"]


def test_delete_tolerates_404_and_removes(server, pki, slept):
    outs = apply_all(server, pki, slept)
    for name in ("connection-postgres", "destination-postgres", "source-postgres", "workspace"):
        provider, _props, created = outs[name]
        provider.delete(created.id, created.outs)
        provider.delete(created.id, created.outs)
    assert not server.state.sources and not server.state.connections and not server.state.workspaces


def test_transient_faults_are_retried_and_permanent_ones_are_not(server, pki, slept):
    server.fail("POST /workspaces", status=503)
    server.fail("GET /workspaces", drop=True)
    WorkspaceProvider(Retry(sleep=slept.append)).create(workspace_props(server, pki))
    assert len(slept) == 2
    server.fail("POST /sources", status=400)
    with pytest.raises(ProviderError, match="HTTP 400"):
        SourceProvider(Retry(sleep=slept.append)).create(source_props(server, pki))


def test_a_changed_connector_is_refused_not_silently_kept(server, pki, slept):
    outs = apply_all(server, pki, slept)
    provider, props, created = outs["source-postgres"]
    other = {**props, "definition_id": KIND_DEFINITIONS["mysql"]}
    with pytest.raises(ProviderError, match="uses connector"):
        provider.update(created.id, created.outs, other)


def test_tls_is_verified_against_the_given_ca(server, pki, tmp_path, slept):
    other = make_pki(tmp_path / "other", common_name="other-ca")
    props = workspace_props(server, pki)
    props["connection"] = {**props["connection"], "ca_pem": other.ca_pem}
    with pytest.raises(ProviderError):
        WorkspaceProvider(Retry(sleep=slept.append)).create(props)
    assert slept == [], "a certificate failure is not retried"


def test_nested_secrets_merge_into_the_configuration():
    assert merge({"a": {"b": 1}}, nest({"a.c": "s", "d": "t"})) == {"a": {"b": 1, "c": "s"}, "d": "t"}
