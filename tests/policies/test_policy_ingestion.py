"""Proves each Airbyte policy passes the ingestion layer's real resources and flags exactly the mutated one."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
from policy_eval import SKIPPED, violations

from infra.model.stackfiles import load_stack
from infra.offline.harness import Recording, run_program
from policies import ingestion
from tests.support.ingestion import ingestion_program

OURS = {policy.name for policy in ingestion.POLICIES}


@pytest.fixture(scope="module")
def baselines() -> dict[str, Recording]:
    return {stack: run_program(ingestion_program(stack), load_stack(stack)) for stack in ("dev", "prod")}


def ours(recording: Recording) -> set[tuple[str, str, str]]:
    return {found for found in violations(recording) if found[0] in OURS}


def changed(name: str, mutate: Callable[[dict], None]) -> Callable[[Recording], Recording]:
    def apply(recording: Recording) -> Recording:
        resources = copy.deepcopy(recording.resources)
        (target,) = [resource for resource in resources if resource.name == name]
        mutate(target.inputs)
        return Recording(recording.project, recording.stack, recording.preview, resources)

    return apply


def secret_value(inputs: dict, key: str) -> dict:
    """The plain dict inside a secret input as the recorder keeps it."""
    value = inputs[key]
    return value["value"] if isinstance(value, dict) and "value" in value else value


def same(recording: Recording) -> Recording:
    return recording


CASES = {
    "pass_dev": ("dev", same, set()),
    "pass_prod": ("prod", same, set()),
    "fail_postgres_without_verification": (
        "prod",
        changed("ingestion-source-postgres", lambda i: i["configuration"]["ssl_mode"].update(mode="require")),
        {("airbyte-connector-require-tls-verification", "ingestion-source-postgres",
          "Airbyte source 'postgres' does not verify TLS (`ssl_mode.mode` is 'require', not one of verify-ca, "
          "verify-full); connect over TLS with certificate verification.")},
    ),
    "fail_mongodb_allows_invalid_certificates": (
        "prod",
        changed("ingestion-source-mongodb", lambda i: i["configuration"]["database_config"].update(
            connection_string="mongodb://reviews:27017/?tls=true&tlsAllowInvalidCertificates=true")),
        {("airbyte-connector-require-tls-verification", "ingestion-source-mongodb",
          "Airbyte source 'mongodb' does not verify TLS (`connection_string` sets tlsallowinvalidcertificates=true); "
          "connect over TLS with certificate verification.")},
    ),
    "fail_destination_plain_http": (
        "dev",
        changed("ingestion-destination-postgres",
                lambda i: i["configuration"].update(s3_endpoint="http://minio.dp-storage.svc:9000")),
        {("airbyte-connector-require-tls-verification", "ingestion-destination-postgres",
          "Airbyte destination 'bronze-postgres' does not verify TLS (`s3_endpoint` "
          "'http://minio.dp-storage.svc:9000' is not https); connect over TLS with certificate verification.")},
    ),
    "fail_api_without_ca": (
        "prod",
        changed("ingestion-connection-files", lambda i: secret_value(i, "connection").update(ca_pem="")),
        {("airbyte-api-require-tls-verification", "ingestion-connection-files",
          "Airbyte connection 'files-to-bronze' reaches Airbyte's API without verified TLS (`ca_pem` is empty); "
          "give its connection an https URL and the CA that signs Airbyte's certificate.")},
    ),
    "fail_password_in_configuration": (
        "prod",
        changed("ingestion-source-mysql", lambda i: i["configuration"].update(password="hunter2")),
        {("airbyte-payload-disallow-plaintext-credentials", "ingestion-source-mysql",
          "Airbyte source 'mysql' carries password in its payload; pass credentials through "
          "`secret_configuration` so they stay secret and out of state.")},
    ),
    "fail_incremental_without_cursor": (
        "prod",
        changed("ingestion-connection-files",
                lambda i: i["configurations"]["streams"][0].update(syncMode="incremental_append")),
        {("airbyte-stream-require-cursor", "ingestion-connection-files",
          "Airbyte connection 'files-to-bronze' reads campaigns incrementally without a cursor field; give each "
          "incremental stream a `cursor_field` in the catalog.")},
    ),
    "fail_cdc_stream_not_declared_source_defined": (
        "prod",
        changed("ingestion-connection-postgres", lambda i: i.update(source_defined_cursors=["customers"])),
        {("airbyte-stream-require-cursor", "ingestion-connection-postgres",
          "Airbyte connection 'postgres-to-bronze' reads orders incrementally without a cursor field; give each "
          "incremental stream a `cursor_field` in the catalog.")},
    ),
    "fail_database_without_verification": (
        "dev",
        changed("ingestion-airbyte", lambda i: i["values"]["global"]["database"].update(
            name="airbyte?sslmode=require")),
        {("airbyte-database-require-verify-full", "ingestion-airbyte",
          "Release 'airbyte' connects Airbyte to its database without verifying the server (sslmode is 'require'; "
          "no sslrootcert); append `?sslmode=verify-full&sslrootcert=<CA file>` to global.database.name.")},
    ),
    "fail_database_plain_name": (
        "prod",
        changed("ingestion-airbyte", lambda i: i["values"]["global"]["database"].update(name="airbyte")),
        {("airbyte-database-require-verify-full", "ingestion-airbyte",
          "Release 'airbyte' connects Airbyte to its database without verifying the server (sslmode is 'unset'; "
          "no sslrootcert); append `?sslmode=verify-full&sslrootcert=<CA file>` to global.database.name.")},
    ),
    "fail_auth_off": (
        "dev",
        changed("ingestion-airbyte", lambda i: i["values"]["global"]["auth"].update(enabled=False)),
        {("airbyte-release-enable-auth", "ingestion-airbyte",
          "Release 'airbyte' runs Airbyte without authentication; set global.auth.enabled: true.")},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_exact_violations(baselines, case):
    stack, mutate, expected = CASES[case]
    found = ours(mutate(baselines[stack]))
    assert found == expected
    assert not [item for item in found if item[2] == SKIPPED]
