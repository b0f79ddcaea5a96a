"""The Airbyte providers against a server that follows Airbyte's public API: idempotent CRUD, 404/409, faults,
TLS verification, the server's rejections, golden payloads from the catalog, and no secret in state."""

from __future__ import annotations

import copy
import json
import typing

import airbyte_api.models as models
import pytest

from components.ingestion.provider import (
    BRONZE_PATH_FORMAT,
    ConnectionProvider,
    DestinationProvider,
    SourceProvider,
    WorkspaceProvider,
    destination_path,
    s3_destination,
    source_configuration,
    stream_configurations,
)
from components.kit.rest import ProviderError, Retry
from infra.model.catalog import Codec, Source, load_catalog
from infra.model.schedules import quartz_cron
from tests.support.airbyte_server import CLIENT, FakeAirbyte
from tests.support.golden import check_golden
from tests.support.tls import make_pki
from tests.support.vendor_specs import vendor_spec

CATALOG = load_catalog()
SOURCES = {source.name: source for source in CATALOG.sources}
BRONZE_CODEC = CATALOG.lake.layer("bronze").codec


def first_of_each_kind() -> dict[str, Source]:
    """The catalog's first source of each connector kind: the golden file pins one rendering per kind."""
    chosen: dict[str, Source] = {}
    for source in CATALOG.sources:
        chosen.setdefault(source.kind, source)
    return {source.name: source for source in chosen.values()}


FIRST_OF_KIND = first_of_each_kind()
POSTGRES = next(source for source in CATALOG.sources if source.kind == "postgres")
ENDPOINTS = {  # where a source of each kind lives in these tests
    "postgres": {"host": "orders-db.example.internal", "database": "shop", "username": "airbyte"},
    "mysql": {"host": "shop-mysql.example.internal", "database": "shop", "username": "airbyte"},
    "mongodb": {"host": "reviews.example.internal", "database": "reviews", "username": "airbyte"},
    "rest_api": {"url": "https://rates.example.com/v1"},
    "csv_files": {"bucket": "marketing-drops", "region": "eu-west-1", "username": "AKIAEXAMPLE"},
}
CA = "-----BEGIN CERTIFICATE-----\nTEST\n-----END CERTIFICATE-----\n"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


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


def rendered_payloads(sources: dict = SOURCES) -> dict:
    configurations = {name: source_configuration(source, ENDPOINTS[source.kind], CA)
                      for name, source in sources.items() if source.kind != "rest_api"}
    destinations = {name: s3_destination(name, "dp-dev-bronze", "us-east-1", "https://minio.dp-storage.svc:9000",
                                         "ingestion", BRONZE_CODEC) for name in sources}
    connections = {name: {"cron": quartz_cron(source.schedule), "configurations": stream_configurations(source)}
                   for name, source in sources.items()}
    return {"sources": configurations, "destinations": destinations, "connections": connections}


def test_payloads_match_the_golden_file_and_the_official_client_models():
    check_golden("providers/airbyte_payloads.json",
                 json.dumps(rendered_payloads(FIRST_OF_KIND), indent=2, sort_keys=True) + "\n")
    payloads = rendered_payloads()
    for configuration in payloads["sources"].values():
        kind = {"postgres": models.SourcePostgres, "mysql": models.SourceMysql, "mongodb-v2": models.SourceMongodbV2,
                "s3": models.SourceS3}[configuration["sourceType"]]
        kind.model_validate({**configuration, "password": "x"} if configuration["sourceType"] != "mongodb-v2"
                            else configuration | {"database_config": {**configuration["database_config"],
                                                                        "password": "x"}})
    for configuration in payloads["destinations"].values():
        parsed = models.DestinationS3.model_validate(configuration)
        assert parsed.format_.compression_codec.value == BRONZE_CODEC.upper()
    for settings in payloads["connections"].values():
        models.StreamConfigurations.model_validate(settings["configurations"])


def test_tls_verifies_certificates_in_every_source():
    payloads = rendered_payloads()["sources"]
    for name, source in SOURCES.items():
        payload = payloads.get(name)
        if source.kind == "postgres":
            assert payload["ssl_mode"] == {"mode": "verify-full", "ca_certificate": CA}, name
        elif source.kind == "mysql":
            assert payload["ssl_mode"] == {"mode": "verify_identity", "ca_certificate": CA}, name
        elif source.kind == "mongodb":
            assert payload["database_config"]["connection_string"].endswith("/?tls=true"), name
        elif source.kind == "csv_files":
            assert payload["endpoint"] in ("", None) or payload["endpoint"].startswith("https://"), name
    for kind in ("rest_api", "csv_files"):
        source = next(iter(FIRST_OF_KIND.values()))
        plain = source.model_copy(update={"kind": kind})
        with pytest.raises(ValueError, match="not https"):
            source_configuration(plain, {**ENDPOINTS[kind], "url": "http://rates.example.com"}, CA)
    with pytest.raises(ValueError, match="not https"):
        s3_destination(next(iter(SOURCES)), "b", "us-east-1", "http://minio:9000", "k", BRONZE_CODEC)


def test_destination_paths_follow_the_lake_layout():
    for dataset in CATALOG.bronze_datasets():
        configuration = s3_destination(dataset.source, "b", "us-east-1", None, "k", BRONZE_CODEC)
        assert destination_path(configuration, dataset.stream) == dataset.prefix
        assert configuration["s3_path_format"] == BRONZE_PATH_FORMAT


def test_every_catalog_parquet_codec_is_one_the_s3_destination_defines():
    spec = vendor_spec("airbyte/connectors/destination-s3-1.9.1.spec.json")
    parquet = next(option for option in spec["connectionSpecification"]["properties"]["format"]["oneOf"]
                   if option["properties"]["format_type"]["enum"] == ["Parquet"])
    defined = parquet["properties"]["compression_codec"]["enum"]
    allowed = typing.get_args(Codec)
    assert sorted(codec.upper() for codec in allowed) == sorted(defined)
    for codec in allowed:
        configuration = s3_destination("postgres", "b", "us-east-1", None, "k", codec)
        assert configuration["format"]["compression_codec"] in defined
        models.DestinationS3.model_validate(configuration)


def workspace_props(server, pki, email=True) -> dict:
    return {"connection": connection(server, pki), "name": "platform",
            "notifications": {"failure": {"email": {"enabled": email}}}}


def source_props(server, pki, password="pw-1", name="postgres") -> dict:
    return {"connection": connection(server, pki), "workspace": "platform", "name": name,
            "configuration": source_configuration(POSTGRES, ENDPOINTS["postgres"], pki.ca_pem),
            "secret_configuration": {"password": password}}


def destination_props(server, pki) -> dict:
    return {"connection": connection(server, pki), "workspace": "platform", "name": "bronze-postgres",
            "configuration": s3_destination("postgres", "dp-dev-bronze", "us-east-1", None, "ingestion", BRONZE_CODEC),
            "secret_configuration": {"secret_access_key": "s3-secret"}}


def connection_props(server, pki, cron=None) -> dict:
    source = POSTGRES
    return {"connection": connection(server, pki), "workspace": "platform", "name": "postgres-to-bronze",
            "source": "postgres", "destination": "bronze-postgres", "cron": cron or quartz_cron(source.schedule),
            "configurations": stream_configurations(source)}


def apply_all(server, pki, slept):
    retry = Retry(sleep=slept.append)
    outs = {}
    for name, provider, props in (("workspace", WorkspaceProvider(retry), workspace_props(server, pki)),
                                  ("source", SourceProvider(retry), source_props(server, pki)),
                                  ("destination", DestinationProvider(retry), destination_props(server, pki)),
                                  ("connection", ConnectionProvider(retry), connection_props(server, pki))):
        outs[name] = (provider, props, provider.create(props))
    return outs


def test_create_reapply_no_change_refresh_matches(server, pki, slept):
    outs = apply_all(server, pki, slept)
    writes = len(server.writes())
    for provider, props, created in outs.values():
        assert provider.diff(created.id, created.outs, copy.deepcopy(props)).changes is False
        refreshed = provider.read(created.id, created.outs)
        assert refreshed.outs["spec_hash"] == created.outs["spec_hash"], provider.kind
    assert len(server.writes()) == writes
    stored = next(iter(server.state.connections.values()))
    assert stored["schedule"] == {"scheduleType": "cron", "cronExpression": "0 0/30 * * * ?"}
    assert {s["name"]: s["syncMode"] for s in stored["configurations"]["streams"]} == {
        "customers": "incremental_append", "orders": "incremental_append"}


def test_no_secret_in_state(server, pki, slept):
    outs = apply_all(server, pki, slept)
    state = json.dumps({name: {k: v for k, v in created.outs.items() if k != "connection"}
                        for name, (_, _, created) in outs.items()})
    assert "pw-1" not in state and "s3-secret" not in state
    assert next(iter(server.state.sources.values()))["configuration"]["password"] == "pw-1"


def test_update_secret_change_and_drift(server, pki, slept):
    outs = apply_all(server, pki, slept)
    provider, _props, created = outs["source"]
    rotated = source_props(server, pki, password="pw-2")
    assert provider.diff(created.id, created.outs, rotated).changes is True
    provider.update(created.id, created.outs, rotated)
    assert next(iter(server.state.sources.values()))["configuration"]["password"] == "pw-2"
    conn_provider, _conn_props, conn_created = outs["connection"]
    hourly = connection_props(server, pki, cron="0 0 * * * ?")
    assert conn_provider.diff(conn_created.id, conn_created.outs, hourly).changes is True
    conn_provider.update(conn_created.id, conn_created.outs, hourly)
    assert next(iter(server.state.connections.values()))["schedule"]["cronExpression"] == "0 0 * * * ?"
    next(iter(server.state.connections.values()))["status"] = "inactive"  # changed by hand in the UI
    assert conn_provider.read(conn_created.id, conn_created.outs).outs["spec_hash"] != conn_created.outs["spec_hash"]


def test_delete_tolerates_404_and_removes(server, pki, slept):
    outs = apply_all(server, pki, slept)
    for name in ("connection", "destination", "source", "workspace"):
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


def test_the_server_rejects_what_airbyte_rejects(server, pki, slept):
    apply_all(server, pki, slept)
    provider = ConnectionProvider(Retry(sleep=slept.append))
    dedup = connection_props(server, pki)
    dedup["configurations"]["streams"][0]["syncMode"] = "incremental_deduped_history"
    with pytest.raises(ProviderError, match="does not support sync mode"):
        provider.create(dedup)
    with pytest.raises(ProviderError, match="at most once a minute"):
        provider.create(connection_props(server, pki, cron="*/5 * * * * ?"))
    with pytest.raises(ProviderError, match="Quartz"):
        provider.create(connection_props(server, pki, cron="*/5 * * * *"))
    no_cursor = connection_props(server, pki)
    del no_cursor["configurations"]["streams"][0]["cursorField"]
    with pytest.raises(ProviderError, match="cursor"):
        provider.create(no_cursor)
    broken = source_props(server, pki, name="other")
    del broken["configuration"]["host"]
    with pytest.raises(ProviderError, match="host"):
        SourceProvider(Retry(sleep=slept.append)).create(broken)


def test_tls_is_verified_against_the_given_ca(server, pki, tmp_path, slept):
    other = make_pki(tmp_path / "other", common_name="other-ca")
    props = workspace_props(server, pki)
    props["connection"] = {**props["connection"], "ca_pem": other.ca_pem}
    with pytest.raises(ProviderError):
        WorkspaceProvider(Retry(sleep=slept.append)).create(props)
    assert slept == [], "a certificate failure is not retried"
