"""The Airbyte fake answers as Airbyte 2.1 does, by Airbyte's own definitions: requests outside the OpenAPI document
are refused, the token is JSON only, connectors are found by definition id or type name, configurations are judged
by the connector's spec and answered masked, and source-defined cursors are kept by the source."""

from __future__ import annotations

import ssl

import httpx
import pytest

from components.ingestion.connectors import KIND_DEFINITIONS, S3_DESTINATION
from tests.support.airbyte_server import CLIENT, MASK, FakeAirbyte, masked, masked_names

WORKSPACE = "platform"
API = "/api/public/v1"


@pytest.fixture()
def server(pki):
    with FakeAirbyte.start(pki) as fake:
        yield fake


@pytest.fixture()
def http(server, pki):
    with httpx.Client(verify=ssl.create_default_context(cadata=pki.ca_pem), base_url=server.url + API) as client:
        token = client.post("/applications/token", json={"grant_type": "client_credentials",
                                                         "client_id": CLIENT[0], "client_secret": CLIENT[1]})
        assert token.status_code == 200, token.text
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield client


@pytest.fixture()
def workspace_id(http) -> str:
    return http.post("/workspaces", json={"name": WORKSPACE}).json()["workspaceId"]


def postgres(cdc: bool = True) -> dict:
    configuration = {"host": "db", "port": 5432, "database": "shop", "username": "airbyte", "password": "pw",
                     "schemas": ["public"], "ssl_mode": {"mode": "verify-full", "ca_certificate": "PEM"}}
    if cdc:
        configuration["replication_method"] = {"method": "CDC", "replication_slot": "s", "publication": "p"}
    return configuration


def test_a_form_encoded_token_request_is_refused_like_oss_does(server, pki):
    with httpx.Client(verify=ssl.create_default_context(cadata=pki.ca_pem)) as client:
        answer = client.post(f"{server.url}{API}/applications/token", data={
            "grant_type": "client_credentials", "client_id": CLIENT[0], "client_secret": CLIENT[1]})
    assert answer.status_code == 401


def test_requests_outside_the_document_are_refused(http, workspace_id):
    assert http.get("/nowhere").status_code == 404
    assert http.put(f"/workspaces/{workspace_id}", json={"name": "x"}).status_code == 405
    assert http.get("/workspaces", params={"limit": 500}).status_code == 400
    assert http.get("/workspaces", params={"colour": "blue"}).status_code == 400
    answer = http.patch(f"/workspaces/{workspace_id}", json={"notifications": {"failure": {"email": {"enabled": "y"}}}})
    assert answer.status_code == 400 and "notifications.failure.email.enabled" in answer.text
    answer = http.post("/sources", json={"name": "s", "workspaceId": "not-a-uuid", "configuration": {}})
    assert answer.status_code == 400 and "workspaceId" in answer.text


def test_a_source_needs_a_definition_id_or_a_type_name(http, workspace_id):
    body = {"name": "pg", "workspaceId": workspace_id, "configuration": postgres()}
    assert http.post("/sources", json=body).status_code == 422
    typed = http.post("/sources", json={**body, "configuration": {**postgres(), "sourceType": "postgres"}})
    assert typed.status_code == 200, typed.text
    assert typed.json()["definitionId"] == KIND_DEFINITIONS["postgres"] and typed.json()["sourceType"] == "postgres"
    assert "sourceType" not in typed.json()["configuration"]
    by_id = http.post("/sources", json={**body, "name": "pg2", "definitionId": KIND_DEFINITIONS["postgres"]})
    assert by_id.status_code == 200, by_id.text


def test_a_configuration_is_judged_by_its_connector_spec(http, workspace_id):
    broken = {k: v for k, v in postgres().items() if k != "host"}
    answer = http.post("/sources", json={"name": "pg", "workspaceId": workspace_id,
                                         "definitionId": KIND_DEFINITIONS["postgres"], "configuration": broken})
    assert answer.status_code == 400 and "host" in answer.text


def test_answers_mask_exactly_what_the_spec_marks_secret(http, workspace_id):
    """Airbyte masks an answer by the spec's `airbyte_secret` only (JsonSecretsProcessor.maskAllSecrets at 2.1.0);
    the names of specs_secrets_mask.yaml, such as `username`, are masked in its logs, not in its answers."""
    created = http.post("/sources", json={"name": "pg", "workspaceId": workspace_id,
                                          "definitionId": KIND_DEFINITIONS["postgres"], "configuration": postgres()})
    configuration = http.get(f"/sources/{created.json()['sourceId']}").json()["configuration"]
    assert configuration["password"] == MASK  # airbyte_secret in source-postgres's spec
    assert "username" in masked_names() and configuration["username"] == "airbyte"
    assert configuration["ssl_mode"] == {"mode": "verify-full", "ca_certificate": MASK}
    assert configuration["host"] == "db"
    assert masked({"a": {"password": None}}, {}) == {"a": {"password": None}}


def test_cursors_the_source_defines_are_its_own(http, workspace_id):
    source = http.post("/sources", json={"name": "pg", "workspaceId": workspace_id,
                                         "definitionId": KIND_DEFINITIONS["postgres"], "configuration": postgres()})
    destination = http.post("/destinations", json={
        "name": "s3", "workspaceId": workspace_id, "definitionId": S3_DESTINATION,
        "configuration": {"s3_bucket_name": "b", "s3_bucket_path": "p", "s3_bucket_region": "us-east-1",
                          "format": {"format_type": "Parquet"}, "access_key_id": "k", "secret_access_key": "s"}})
    assert destination.status_code == 200, destination.text
    body = {"name": "c", "sourceId": source.json()["sourceId"], "destinationId": destination.json()["destinationId"],
            "schedule": {"scheduleType": "cron", "cronExpression": "0 0 * * * ?"},
            "configurations": {"streams": [{"name": "orders", "syncMode": "incremental_append",
                                            "cursorField": ["updated_at"]}]}}
    refused = http.post("/connections", json=body)
    assert refused.status_code == 400 and "is already defined by source" in refused.text
    del body["configurations"]["streams"][0]["cursorField"]
    created = http.post("/connections", json=body)
    assert created.status_code == 200, created.text
    assert created.json()["configurations"]["streams"][0]["cursorField"] == ["_ab_cdc_lsn"]
    assert created.json()["schedule"]["cronExpression"] == "0 0 * * * ? UTC"
    standard = http.post("/sources", json={"name": "pg-standard", "workspaceId": workspace_id,
                                           "definitionId": KIND_DEFINITIONS["postgres"],
                                           "configuration": postgres(cdc=False)})
    answer = http.post("/connections", json={**body, "name": "c2", "sourceId": standard.json()["sourceId"]})
    assert answer.status_code == 400 and "cursor" in answer.text


def test_workspaces_answer_every_notification_type(http, workspace_id):
    answer = http.get(f"/workspaces/{workspace_id}").json()
    assert set(answer["notifications"]) == {"failure", "success", "connectionUpdate", "connectionUpdateActionRequired",
                                            "syncDisabled", "syncDisabledWarning"}
    assert answer["notifications"]["success"] == {"email": {"enabled": False}, "webhook": {"enabled": False}}
