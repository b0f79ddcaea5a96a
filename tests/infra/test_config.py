"""Every invalid stack config fails before any resource is declared, with one message naming key, value and fix."""

from __future__ import annotations

import pytest

from infra.model.config import StackConfig, minio_kms_key_id, parse_stack_config
from infra.model.errors import ConfigError

DEV = {
    "stage": "dev",
    "namePrefix": "dataplatform",
    "storage": {"backend": "minio", "minio": {"server": "minio:9000", "kmsKeyId": "lake-key"}},
}
ORG_CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
OIDC_PROVIDER = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE"
PROD = {
    "stage": "prod",
    "namePrefix": "dataplatform",
    "aws": {"region": "eu-west-1"},
    "storage": {"backend": "s3", "s3": {"oidcProviderArn": OIDC_PROVIDER, "accessKeysIssued": "2026-12-01"}},
    "kubernetes": {"ca": {"certificate": ORG_CA, "issuer": "organisation-ca"}},
    "metadata": {"network": {"subnetIds": ["subnet-0a1b2c3d", "subnet-0e1f2a3b"], "securityGroupIds": ["sg-0a1b2c3d"]},
                 "eventEmails": ["dba@example.com"]},
}


def with_changes(base: dict, **changes) -> dict:
    merged = {**base}
    for dotted, value in changes.items():
        target = merged
        parts = dotted.split("__")
        for part in parts[:-1]:
            target[part] = dict(target.get(part, {}))
            target = target[part]
        target[parts[-1]] = value
    return merged


def test_dev_defaults_come_from_code():
    config = parse_stack_config(DEV, "dev")
    assert isinstance(config, StackConfig)
    assert (config.protect, config.storage.object_lock_days, config.retention.audit_days) == (False, 0, 30)
    assert (config.storage.encryption, config.storage.versioning, config.storage.force_destroy) == (True, True, False)


def test_prod_defaults_are_the_strict_ones():
    config = parse_stack_config(PROD, "prod")
    assert (config.protect, config.storage.object_lock_days, config.retention.audit_days) == (True, 90, 90)
    assert config.storage.backend == "s3"


def test_values_arrive_as_engine_strings():
    """The engine passes structured values as JSON and scalars as strings."""
    values = {"stage": "dev", "namePrefix": "dp", "protect": "true", "storage": '{"backend": "minio", '
              '"minio": {"server": "m:9000", "kmsKeyId": "k"}}'}
    config = parse_stack_config(values, "dev")
    assert config.protect is True
    assert config.storage.minio.server == "m:9000"


@pytest.mark.parametrize(
    ("values", "stack", "message"),
    [
        pytest.param(
            with_changes(DEV, storage__bucketCount=3),
            "dev",
            "Pulumi.dev.yaml: dataplatform:storage.bucketCount: unknown key; remove it or check its spelling",
            id="unknown-key",
        ),
        pytest.param(
            with_changes(DEV, storage__versioning="sometimes"),
            "dev",
            "Pulumi.dev.yaml: dataplatform:storage.versioning: Input should be a valid boolean, unable to "
            "interpret input (got 'sometimes')",
            id="wrong-type",
        ),
        pytest.param(
            with_changes(DEV, storage__backend="gcs"),
            "dev",
            "Pulumi.dev.yaml: dataplatform:storage.backend: Input should be 'minio' or 's3' (got 'gcs')",
            id="unknown-backend",
        ),
        pytest.param(
            with_changes(DEV, retention={"auditDays": -5}),
            "dev",
            "Pulumi.dev.yaml: dataplatform:retention.auditDays: Input should be greater than or equal to 1 (got -5)",
            id="negative-retention",
        ),
        pytest.param(
            with_changes(PROD, retention={"auditDays": 30}),
            "prod",
            "Pulumi.prod.yaml: dataplatform:retention.auditDays: prod requires at least 90 (got 30)",
            id="too-short-audit-retention-in-prod",
        ),
        pytest.param(
            with_changes(DEV, storage__accessLogRetentionDays=30),
            "dev",
            "Pulumi.dev.yaml: dataplatform:storage.accessLogRetentionDays: Input should be greater than or equal "
            "to 90 (got 30)",
            id="too-short-access-log-retention",
        ),
        pytest.param(
            with_changes(DEV, namePrefix="Data_Platform"),
            "dev",
            "Pulumi.dev.yaml: dataplatform:namePrefix: String should match pattern '^[a-z][a-z0-9-]{0,29}[a-z0-9]$' "
            "(got 'Data_Platform')",
            id="bad-bucket-name",
        ),
        pytest.param(
            with_changes(DEV, namePrefix="a" * 31),
            "a-very-long-stack-name-for-testing",
            "Pulumi.a-very-long-stack-name-for-testing.yaml: dataplatform:namePrefix: too long for stack "
            "'a-very-long-stack-name-for-testing': it makes bucket names like "
            f"'{'a' * 31}-a-very-long-stack-name-for-testing-dremio-store' (79 characters) and bucket names allow at "
            f"most 63; shorten namePrefix (got '{'a' * 31}')",
            id="bucket-name-too-long",
        ),
        pytest.param(
            with_changes(PROD, storage__encryption=False),
            "prod",
            "Pulumi.prod.yaml: dataplatform:storage.encryption: prod requires true (got false)",
            id="prod-encryption-off",
        ),
        pytest.param(
            with_changes(PROD, protect=False),
            "prod",
            "Pulumi.prod.yaml: dataplatform:protect: prod requires true (got false)",
            id="prod-unprotected",
        ),
        pytest.param(
            with_changes(DEV, stage="staging"),
            "dev",
            "Pulumi.dev.yaml: dataplatform:stage: must be one of dev, prod (got 'staging')",
            id="unknown-stage",
        ),
        pytest.param(
            with_changes(PROD, aws={"region": "Ireland"}),
            "prod",
            "Pulumi.prod.yaml: dataplatform:aws.region: String should match pattern "
            "'^[a-z]{2}(-gov)?-[a-z]+-[0-9]$' (got 'Ireland')",
            id="bad-aws-region",
        ),
        pytest.param(
            {k: v for k, v in PROD.items() if k != "aws"},
            "prod",
            "Pulumi.prod.yaml: dataplatform:aws.region: required when `storage.backend` is s3 and `metadata.backend` "
            "is rds",
            id="s3-without-region",
        ),
        pytest.param(
            with_changes(DEV, storage={"backend": "minio"}),
            "dev",
            "Pulumi.dev.yaml: dataplatform:storage.minio: required when `storage.backend` is minio (at least "
            "`server`, MinIO's host:port)",
            id="minio-without-settings",
        ),
        pytest.param(
            with_changes(DEV, storage__versioning=False, storage__objectLockDays=30),
            "dev",
            "Pulumi.dev.yaml: dataplatform:storage.versioning: must be true while `storage.objectLockDays` is set "
            "(object lock requires versioned buckets) (got false)",
            id="lock-without-versioning",
        ),
        pytest.param(
            {**PROD, "kubernetes": {}},
            "prod",
            "Pulumi.prod.yaml: dataplatform:kubernetes.ca.certificate: prod requires the organisation's CA (PEM text "
            "or file) with `kubernetes.ca.issuer`",
            id="prod-without-organisation-ca",
        ),
        pytest.param(
            with_changes(PROD, kubernetes={"ca": {"certificate": ORG_CA}}),
            "prod",
            "Pulumi.prod.yaml: dataplatform:kubernetes.ca.issuer: `kubernetes.ca.certificate` and "
            "`kubernetes.ca.issuer` go together: set both (organisation CA) or neither (generated)",
            id="ca-without-issuer",
        ),
        pytest.param(
            with_changes(PROD, kubernetes={"ca": {"certificate": "/nonexistent/org-ca.pem", "issuer": "org"}}),
            "prod",
            "Pulumi.prod.yaml: dataplatform:kubernetes.ca.certificate: neither PEM text nor a readable file: "
            "/nonexistent/org-ca.pem (No such file or directory)",
            id="ca-file-missing",
        ),
        pytest.param(
            with_changes(DEV, kubernetes__alertmanager="maybe"),
            "dev",
            "Pulumi.dev.yaml: dataplatform:kubernetes.alertmanager: Input should be 'install' or 'existing' "
            "(got 'maybe')",
            id="unknown-alertmanager",
        ),
        pytest.param(
            with_changes(DEV, kubernetes__replicas=0),
            "dev",
            "Pulumi.dev.yaml: dataplatform:kubernetes.replicas: Input should be greater than or equal to 1 (got 0)",
            id="no-replicas",
        ),
    ],
)
def test_invalid_config_names_key_value_and_fix(values, stack, message):
    with pytest.raises(ConfigError) as raised:
        parse_stack_config(values, stack)
    assert str(raised.value) == message


def test_kubernetes_defaults_per_stage_and_derived_minio_key():
    dev = parse_stack_config(with_changes(DEV, storage={"backend": "minio", "minio": {"server": "m:9000"}}), "dev")
    prod = parse_stack_config(PROD, "prod")
    assert (dev.kubernetes.install_cert_manager, dev.kubernetes.replicas) == (True, 1)
    assert (prod.kubernetes.install_cert_manager, prod.kubernetes.install_cloudnative_pg) == (False, False)
    assert prod.kubernetes.replicas == 2
    assert minio_kms_key_id(dev) == "dataplatform-dev-sse"
    assert minio_kms_key_id(parse_stack_config(DEV, "dev")) == "lake-key"


def test_organisation_ca_from_a_file(tmp_path):
    pem = tmp_path / "org-ca.pem"
    pem.write_text(ORG_CA)
    config = parse_stack_config(with_changes(PROD, kubernetes={"ca": {"certificate": str(pem), "issuer": "o"}}), "prod")
    assert config.kubernetes.ca.pem == ORG_CA


@pytest.mark.parametrize("missing, message", [
    ("oidcProviderArn", "Pulumi.prod.yaml: dataplatform:storage.s3.oidcProviderArn: prod requires the IAM OIDC "
     "provider of the cluster's service account issuer: the workloads whose clients take web identity credentials "
     "assume IAM roles through it instead of holding access keys (`arn:aws:iam::<account>:oidc-provider/<issuer>`; on "
     "EKS `aws eks describe-cluster --query cluster.identity.oidc.issuer`)"),
    ("accessKeysIssued", "Pulumi.prod.yaml: dataplatform:storage.s3.accessKeysIssued: prod requires the day the "
     "remaining access keys were issued (`make rotate-keys STACK=prod` sets it)"),
])
def test_prod_needs_workload_identity_and_the_keys_issue_date(missing, message):
    s3 = {key: value for key, value in PROD["storage"]["s3"].items() if key != missing}
    with pytest.raises(ConfigError) as raised:
        parse_stack_config(with_changes(PROD, storage={"backend": "s3", "s3": s3}), "prod")
    assert str(raised.value) == message


def test_keys_issue_date_must_be_a_date():
    with pytest.raises(ConfigError) as raised:
        parse_stack_config(with_changes(PROD, storage={"backend": "s3", "s3": {
            "oidcProviderArn": OIDC_PROVIDER, "accessKeysIssued": "last tuesday"}}), "prod")
    assert "dataplatform:storage.s3.accessKeysIssued" in str(raised.value)


def test_rds_needs_network_placement():
    values = {**PROD, "metadata": {"eventEmails": ["dba@example.com"]}}
    with pytest.raises(ConfigError) as raised:
        parse_stack_config(values, "prod")
    assert str(raised.value) == (
        "Pulumi.prod.yaml: dataplatform:metadata.network: required when `metadata.backend` is rds (subnetIds, "
        "securityGroupIds), so the instance lands in the cluster's VPC"
    )


def test_rds_subnets_must_differ():
    network = {"subnetIds": ["subnet-0a1b2c3d", "subnet-0a1b2c3d"], "securityGroupIds": ["sg-0a1b2c3d"]}
    with pytest.raises(ConfigError) as raised:
        parse_stack_config({**PROD, "metadata": {"network": network, "eventEmails": ["dba@example.com"]}}, "prod")
    assert str(raised.value) == (
        "Pulumi.prod.yaml: dataplatform:metadata.network.subnetIds: lists subnet-0a1b2c3d twice; give at least two "
        "different ones"
    )
