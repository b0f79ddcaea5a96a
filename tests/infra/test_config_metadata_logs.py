"""The metadata and logs config sections: stage defaults, prod rules and the client/cluster major pin, with messages
that name the key."""

from __future__ import annotations

import pytest

from infra.model.config import parse_stack_config
from infra.model.errors import ConfigError

ORG_CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
DEV = {"stage": "dev", "namePrefix": "dataplatform",
       "storage": {"backend": "minio", "minio": {"server": "minio:9000", "kmsKeyId": "k"}}}
OIDC_PROVIDER = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE"
NETWORK = {"subnetIds": ["subnet-0a1b2c3d", "subnet-0e1f2a3b"], "securityGroupIds": ["sg-0a1b2c3d"]}
PROD = {"stage": "prod", "namePrefix": "dataplatform", "aws": {"region": "eu-west-1"},
        "storage": {"backend": "s3", "s3": {"oidcProviderArn": OIDC_PROVIDER, "accessKeysIssued": "2026-12-01"}},
        "kubernetes": {"ca": {"certificate": ORG_CA, "issuer": "organisation-ca"}},
        "metadata": {"network": NETWORK, "eventEmails": ["dba@example.com"]}}


def test_stage_defaults():
    dev, prod = parse_stack_config(DEV, "dev"), parse_stack_config(PROD, "prod")
    assert (dev.metadata.backend, dev.logs.job_log_days, len(dev.logs.node_sets)) == ("cloudnative-pg", 7, 1)
    assert (prod.metadata.backend, prod.metadata.multi_az, prod.metadata.backup_retention_days) == ("rds", True, 14)
    assert [node_set.count for node_set in prod.logs.node_sets] == [3, 3]


@pytest.mark.parametrize(("metadata", "message"), [
    ({"backend": "cloudnative-pg", "eventEmails": None},
     'dataplatform:metadata.backend: prod requires "rds" (got \'cloudnative-pg\')'),
    ({"multiAz": False}, "dataplatform:metadata.multiAz: prod requires true (got false)"),
    ({"backupRetentionDays": 3}, "dataplatform:metadata.backupRetentionDays: prod requires at least 7 (got 3)"),
    ({"deletionProtection": False}, "dataplatform:metadata.deletionProtection: prod requires true (got false)"),
])
def test_prod_rules_name_the_key(metadata, message):
    with pytest.raises(ConfigError) as raised:
        parse_stack_config({**PROD, "metadata": {**PROD["metadata"], **metadata}}, "prod")
    assert str(raised.value) == f"Pulumi.prod.yaml: {message}"


def test_rds_needs_aws_and_a_ca_bundle():
    with pytest.raises(ConfigError, match=r"dataplatform:aws.region: required when `metadata.backend` is rds"):
        parse_stack_config({**DEV, "metadata": {"backend": "rds"}}, "dev")
    with pytest.raises(ConfigError, match=r"dataplatform:metadata.caBundleFile: required when `metadata.backend` is "
                                          r"rds \(the RDS CA bundle on the deployer\)"):
        parse_stack_config({**DEV, "aws": {"region": "eu-west-1"}, "metadata": {"backend": "rds", "network": NETWORK}},
                           "dev")


def test_the_cluster_major_must_match_the_installed_client():
    with pytest.raises(ConfigError, match=r"dataplatform:logs.version: a different major from the installed "
                                          r"elasticsearch client 9\.[0-9.]+; pin both to the same major .* \(got "
                                          r"'8.19.0'\)"):
        parse_stack_config({**DEV, "logs": {"version": "8.19.0"}}, "dev")


def test_master_eligible_nodes_are_odd():
    node_sets = [{"name": "a", "count": 2, "roles": ["master", "data"], "storageGib": 1, "memoryGib": 1}]
    with pytest.raises(ConfigError, match="2 master-eligible nodes; use an odd number"):
        parse_stack_config({**DEV, "logs": {"nodeSets": node_sets}}, "dev")


def test_snapshots_keep_audit_and_job_logs_at_least_their_retention():
    """Snapshot retention derives from the indices' own (90-day audit in prod), and a setting that would keep a
    snapshot shorter than its indices is refused before anything is declared."""
    prod = parse_stack_config(PROD, "prod")
    assert prod.logs.snapshot_days(prod.retention.audit_days) == (90, 30)
    assert prod.logs.snapshots.interval_hours == 24
    longer = parse_stack_config({**PROD, "logs": {"snapshots": {"auditDays": 365, "jobLogDays": 60}}}, "prod")
    assert longer.logs.snapshot_days(longer.retention.audit_days) == (365, 60)
    with pytest.raises(ConfigError, match=r"dataplatform:logs.snapshots.auditDays: must be at least "
                       r"`retention.auditDays` \(90\).*\(got 30\)"):
        parse_stack_config({**PROD, "logs": {"snapshots": {"auditDays": 30}}}, "prod")
    with pytest.raises(ConfigError, match=r"dataplatform:logs.snapshots.jobLogDays: must be at least "
                       r"`logs.jobLogDays` \(30\).*\(got 7\)"):
        parse_stack_config({**PROD, "logs": {"snapshots": {"jobLogDays": 7}}}, "prod")
    with pytest.raises(ConfigError, match=r"logs\.snapshots\.intervalHours"):
        parse_stack_config({**PROD, "logs": {"snapshots": {"intervalHours": 5}}}, "prod")
