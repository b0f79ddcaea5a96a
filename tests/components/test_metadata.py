"""MetadataDatabase declares per stage the server the issue asks for (CloudNativePG with TLS, pgaudit and backups; RDS
hardened and protected), verified TLS to it, and a migrations Job named after the migrations' hash."""

from __future__ import annotations

import pytest

from components.metadata.component import cloudwatch_retention, migrations_hash
from infra.offline.harness import is_secret
from tests.support.recordings import TEST_CA_FILE, record_metadata


@pytest.fixture(scope="module")
def dev():
    return record_metadata("dev")


@pytest.fixture(scope="module")
def prod():
    return record_metadata("prod")


def test_dev_runs_cloudnative_pg_with_tls_pgaudit_and_backups_to_the_lake(dev):
    cluster = dev.named("metadata-cluster")
    spec = cluster.inputs["spec"]
    assert spec["certificates"] == {"serverTLSSecret": "metadata-server-tls", "serverCASecret": "metadata-server-tls"}
    assert spec["postgresql"]["parameters"]["pgaudit.log"] == "ddl,role,write"
    assert spec["postgresql"]["pg_hba"] == ["hostnossl all all all reject"]
    store = spec["backup"]["barmanObjectStore"]
    assert store["destinationPath"] == "s3://dataplatform-dev-backups/metadata"
    assert store["s3Credentials"]["accessKeyId"] == {"name": "metadata-backups", "key": "ACCESS_KEY_ID"}
    credentials = dev.named("metadata-backup-credentials-secret")
    assert is_secret(credentials.inputs["stringData"])
    assert credentials.input("stringData") == {"ACCESS_KEY_ID": "backups-key", "ACCESS_SECRET_KEY": "backups-secret"}
    assert dev.named("metadata-scheduled-backup").input("spec.cluster.name") == "metadata"


def test_prod_rds_is_hardened_and_protected(prod):
    instance = prod.named("metadata-instance")
    expected = {"storageEncrypted": True, "publiclyAccessible": False, "iamDatabaseAuthenticationEnabled": True,
                "deletionProtection": True, "multiAz": True, "backupRetentionPeriod": 14.0,
                "skipFinalSnapshot": False, "finalSnapshotIdentifier": "dataplatform-prod-metadata-final",
                "enabledCloudwatchLogsExports": ["postgresql", "upgrade"]}
    assert {key: instance.input(key) for key in expected} == expected
    assert instance.input("kmsKeyId") == prod.named("metadata-key").outputs["arn"]
    assert instance.protect and prod.named("metadata-key").protect and prod.named("metadata-db-platform").protect
    parameters = {p["name"]: p["value"] for p in prod.named("metadata-parameters").input("parameters")}
    assert parameters["shared_preload_libraries"] == "pgaudit"
    assert (parameters["pgaudit.log"], parameters["rds.force_ssl"]) == ("ddl,role,write", "1")
    assert prod.named("metadata-log-group").input("retentionInDays") == 90.0


@pytest.mark.parametrize(("stack", "root_cert"), [("dev", TEST_CA_FILE),
                                                   ("prod", "/etc/dataplatform/rds-global-bundle.pem")])
def test_the_provider_verifies_the_server(stack, root_cert):
    provider = record_metadata(stack).named("metadata-postgresql")
    assert (provider.input("sslmode"), provider.input("sslrootcert")) == ("verify-full", root_cert)


def test_every_role_is_not_superuser_and_logins_have_secret_passwords(prod):
    roles = prod.of_type("postgresql:index/role:Role")
    assert {role.input("name") for role in roles} == {
        "ingestion", "transformation", "query_engine", "bi", "analyst", "data_engineer",
        "migrator", "airbyte", "dbt", "dremio", "superset"}
    for role in roles:
        assert role.input("superuser") is False and role.input("createRole") is False
        if role.input("login"):
            assert is_secret(role.inputs["password"])


def test_migrations_job_carries_the_hash_and_runs_the_same_folder(dev, tmp_path):
    job = dev.named("metadata-migrations-job")
    digest = migrations_hash()
    assert job.input("metadata.name") == f"metadata-migrations-{digest}"
    files = dev.named("metadata-migrations").input("data")
    assert sorted(files) == ["V001__airbyte_state.sql", "V002__dbt_run_history.sql"]
    container = job.input("spec.template.spec.containers.0")
    assert container["command"] == ["python", "-m", "infra.migrations"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    (tmp_path / "V001__airbyte_state.sql").write_text("SELECT 1;")
    assert migrations_hash(tmp_path) != digest


def test_cloudwatch_retention_rounds_up_to_an_allowed_period():
    assert [cloudwatch_retention(days) for days in (30, 90, 91, 400)] == [30, 90, 120, 400]
