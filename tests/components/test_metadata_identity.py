"""prod's metadata server: RDS keeps the master password, the PostgreSQL provider logs in with IAM, and the metadata
key lets each AWS service that uses it do so only under that service's documented condition.

What is checked by whom:
- the master user's first login (grant of rds_iam with the password read from Secrets Manager) on a real PostgreSQL
  15 with the secret served by moto's Secrets Manager; RDS's own roles (`rds_iam`, `rds_superuser`) are simulated
  there, as RDS creates them (our reading of the RDS User Guide, "Database authentication with Amazon RDS");
- the provider's input names against pulumi-postgresql's own schema (the SDK's `Provider` arguments);
- the key policy's conditions: our reading of the KMS Developer Guide ("AWS KMS condition keys": kms:ViaService,
  kms:CallerAccount), the RDS User Guide ("Overview of encrypting Amazon RDS resources"), the Secrets Manager User
  Guide ("Secret encryption and decryption in AWS Secrets Manager") and the CloudWatch Logs User Guide ("Encrypt log
  data in CloudWatch Logs using AWS Key Management Service": `logs.<region>.amazonaws.com` and `ArnLike`
  `kms:EncryptionContext:aws:logs:arn`). parliament (tests/infra/test_parliament.py) lints the same document.
"""

from __future__ import annotations

import inspect
import json

import boto3
import psycopg
import pulumi_postgresql
import pytest
from moto import mock_aws

from components.metadata.iam_login import bootstrap, ca_bundle_file
from infra.offline.harness import is_secret
from tests.support.postgres import PostgresServer
from tests.support.recordings import record_metadata

ACCOUNT = "111122223333"
REGION = "eu-west-1"
IDENTIFIER = "dataplatform-prod-metadata"
LOG_GROUP_ARN = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/rds/instance/{IDENTIFIER}/postgresql"
CRYPTO = {"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:GenerateDataKey", "kms:*",
          "kms:CreateGrant", "kms:Create*"}


@pytest.fixture(scope="module")
def prod():
    return record_metadata("prod")


def key_statements(prod) -> dict[str, dict]:
    return {s["Sid"]: s for s in json.loads(prod.named("metadata-key").input("policy"))["Statement"]}


def test_rds_manages_the_master_password_with_the_metadata_key(prod):
    instance = prod.named("metadata-instance")
    assert instance.input("manageMasterUserPassword") is True
    assert instance.input("masterUserSecretKmsKeyId") == prod.named("metadata-key").outputs["arn"]
    assert "password" not in instance.inputs and "passwordWo" not in instance.inputs
    # No password for the master user is generated at all: nothing of it can reach state or the plan.
    assert [r.name for r in prod if r.name.endswith("admin-password")] == []


def test_dev_keeps_its_generated_superuser_password_secret():
    dev = record_metadata("dev")
    assert is_secret(dev.named("metadata-postgresql").inputs["password"])


def test_the_provider_logs_in_with_rds_iam_after_the_first_login(prod):
    provider = prod.named("metadata-postgresql")
    assert provider.input("awsRdsIamAuth") == "true" and provider.input("awsRdsIamRegion") == REGION
    assert provider.input("username") == "dpadmin" and "password" not in provider.inputs
    first_login = prod.named("metadata-master-iam-login")
    assert first_login.urn in provider.dependencies
    assert not {"password"} & set(first_login.inputs)
    # The names are pulumi-postgresql's own provider arguments.
    arguments = inspect.signature(pulumi_postgresql.Provider._internal_init).parameters
    assert {"aws_rds_iam_auth", "aws_rds_iam_region"} <= set(arguments)


def test_the_log_group_is_encrypted_with_the_metadata_key(prod):
    log_group = prod.named("metadata-log-group")
    assert log_group.input("kmsKeyId") == prod.named("metadata-key").outputs["arn"]


def test_cloudwatch_logs_uses_the_key_only_for_the_instance_log_group(prod):
    statement = key_statements(prod)["CloudWatchLogsUsesKeyForTheInstanceLogGroup"]
    assert statement["Principal"] == {"Service": f"logs.{REGION}.amazonaws.com"}
    assert statement["Condition"] == {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": LOG_GROUP_ARN}}
    assert LOG_GROUP_ARN.endswith(prod.named("metadata-log-group").input("name"))


@pytest.mark.parametrize(("sid", "service"), [("RdsUsesKeyForThisAccount", "rds"),
                                              ("SecretsManagerUsesKeyForThisAccount", "secretsmanager")])
def test_services_called_by_this_account_use_the_key_only_through_themselves(prod, sid, service):
    statement = key_statements(prod)[sid]
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert statement["Condition"] == {"StringEquals": {"kms:ViaService": f"{service}.{REGION}.amazonaws.com",
                                                       "kms:CallerAccount": ACCOUNT}}
    assert {"kms:Decrypt", "kms:GenerateDataKey*", "kms:CreateGrant"} <= set(statement["Action"])


def test_administration_cannot_decrypt_or_grant(prod):
    statements = key_statements(prod)
    assert set(statements) == {"AccountAdministersKey", "RdsUsesKeyForThisAccount",
                               "SecretsManagerUsesKeyForThisAccount", "CloudWatchLogsUsesKeyForTheInstanceLogGroup"}
    assert not CRYPTO & set(statements["AccountAdministersKey"]["Action"])
    for sid, statement in statements.items():
        if sid != "AccountAdministersKey":
            assert "Condition" in statement, sid


@pytest.mark.integration
def test_the_first_login_grants_rds_iam_with_the_password_from_secrets_manager():
    password = "from-the-rds-managed-secret"
    with PostgresServer.start() as server, mock_aws():
        # What RDS creates: rds_iam, rds_superuser, and the master in rds_superuser (not in rds_iam) with CREATEROLE,
        # with which it grants itself rds_iam (tests/support/rds_master.py).
        server.psql("CREATE ROLE rds_iam NOLOGIN; CREATE ROLE rds_superuser NOLOGIN; "
                    f"CREATE ROLE dpadmin LOGIN CREATEROLE CREATEDB PASSWORD '{password}' IN ROLE rds_superuser")
        assert server.psql("SELECT pg_has_role('dpadmin', 'rds_iam', 'MEMBER')") == "f"
        hba = server.data_dir / "pg_hba.conf"
        hba.write_text("host all dpadmin 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        server.psql("SELECT pg_reload_conf()")
        secrets = boto3.client("secretsmanager", region_name=REGION)
        arn = secrets.create_secret(Name="rds!db-0000", SecretString=json.dumps(
            {"username": "dpadmin", "password": password}))["ARN"]
        props = {"host": server.host, "port": server.port, "user": "dpadmin", "secret_arn": arn,
                 "region": REGION, "sslmode": "disable"}
        bootstrap(props, "")
        assert server.psql("SELECT pg_has_role('dpadmin', 'rds_iam', 'MEMBER')") == "t"
        bootstrap(props, "")  # a second run finds the grant and changes nothing
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            bootstrap({**props, "secret_arn": secrets.create_secret(
                Name="rds!db-other", SecretString=json.dumps({"username": "dpadmin", "password": "wrong"}))["ARN"]},
                "")
        with pytest.raises(ValueError, match="manage_master_user_password"):
            bootstrap({**props, "secret_arn": ""}, "")


def test_the_first_login_reads_the_deployers_ca_bundle_from_the_stack_config():
    """Not an input (another deployer's path would be a change): the engine hands the provider the stack config,
    structured values as JSON text."""
    assert ca_bundle_file({"metadata": json.dumps({"backend": "rds", "caBundleFile": "/home/ops/rds.pem"})}) \
        == "/home/ops/rds.pem"
    assert ca_bundle_file({"metadata": {"caBundleFile": "/etc/rds.pem"}}) == "/etc/rds.pem"
    with pytest.raises(ValueError, match=r"`metadata\.caBundleFile`"):
        ca_bundle_file({"metadata": json.dumps({"backend": "rds"})})
