"""Proves each metadata and logs policy passes the layers' real resources and flags exactly the mutated one."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
from policy_eval import SKIPPED, violations

from infra.offline.harness import Recording
from policies import logs, metadata
from tests.support.recordings import record_logs, record_metadata

OURS = {policy.name for policy in [*metadata.POLICIES, *logs.POLICIES]}
RDS = "RDS instance 'dataplatform-prod-metadata'"
AUDIT_SLM = "logs-slm-platform-audit-snapshots"
AUDIT_REPOSITORY = "logs-snapshot-repository-platform-audit-snapshots"
SNAPSHOT_REMEDY = ("its audit indices would die with the cluster. Declare a snapshot repository on the backups bucket "
                   "and an SLM policy that snapshots the audit indices and keeps each snapshot at least 90 days "
                   "(components/logs/spec.py).")
PARAMETERS = "RDS parameter group 'dataplatform-prod-metadata-pg15'"
AUDIT_CONFIG = {"elasticsearch-ilm-configure-audit-retention": {"minDays": 90}}


@pytest.fixture(scope="module")
def baselines() -> dict[str, Recording]:
    return {"prod-metadata": record_metadata("prod"), "dev-metadata": record_metadata("dev"),
            "prod-logs": record_logs("prod"), "prod-logs-preview": record_logs("prod", preview=True),
            "prod-logs-legacy": record_logs("prod", overrides={
                "dataplatform:logs": {"snapshots": {"legacyRepository": True}}}),
            "prod-metadata-preview": record_metadata("prod", preview=True)}


def ours(recording: Recording, config: dict | None = None) -> set[tuple[str, str, str]]:
    return {found for found in violations(recording, config) if found[0] in OURS}


def changed(recording: Recording, name: str, mutate: Callable[[dict], None]) -> Recording:
    resources = copy.deepcopy(recording.resources)
    (target,) = [resource for resource in resources if resource.name == name]
    mutate(target.inputs)
    return Recording(recording.project, recording.stack, recording.preview, resources)


def without(recording: Recording, *types: str) -> Recording:
    return Recording(recording.project, recording.stack, recording.preview,
                     [resource for resource in recording.resources if resource.type not in types])


def set_slm(mutate: Callable[[dict], None]) -> Callable[[Recording], Recording]:
    return lambda recording: changed(recording, AUDIT_SLM, lambda inputs: mutate(inputs["policy"]))


def with_legacy_repository(base_path: str) -> Callable[[Recording], Recording]:
    """The stack plus `platform-backups`, the repository both policies shared before each got its own, writable on
    `base_path`."""
    def apply(recording: Recording) -> Recording:
        resources = copy.deepcopy(recording.resources)
        (audit,) = [resource for resource in resources if resource.name == AUDIT_REPOSITORY]
        legacy = copy.deepcopy(audit)
        legacy.name = "logs-snapshot-repository"
        legacy.urn = audit.urn.replace(AUDIT_REPOSITORY, legacy.name)
        legacy.inputs["name"] = "platform-backups"
        settings = legacy.inputs["repository"]["settings"]
        settings["base_path"] = base_path
        return Recording(recording.project, recording.stack, recording.preview, [*resources, legacy])

    return apply


def set_parameter(name: str, value: str) -> Callable[[dict], None]:
    def mutate(inputs: dict) -> None:
        for parameter in inputs["parameters"]:
            if parameter["name"] == name:
                parameter["value"] = value

    return mutate


CASES = {
    "pass_prod_metadata": ("prod-metadata", lambda r: r, set()),
    "pass_dev_metadata": ("dev-metadata", lambda r: r, set()),
    "pass_prod_metadata_at_preview": ("prod-metadata-preview", lambda r: r, set()),
    "pass_prod_logs": ("prod-logs", lambda r: r, set()),
    "pass_prod_logs_at_preview": ("prod-logs-preview", lambda r: r, set()),
    "fail_rds_unencrypted": (
        "prod-metadata", lambda r: changed(r, "metadata-instance", lambda i: i.update(storageEncrypted=False)),
        {("aws-rds-instance-enable-encryption", "metadata-instance",
          f"{RDS} is not encrypted with a KMS key; set storageEncrypted and kmsKeyId.")},
    ),
    "fail_rds_public": (
        "prod-metadata", lambda r: changed(r, "metadata-instance", lambda i: i.update(publiclyAccessible=True)),
        {("aws-rds-instance-disallow-public-access", "metadata-instance",
          f"{RDS} may be publicly accessible; set publiclyAccessible to false.")},
    ),
    "fail_rds_in_the_default_vpc": (
        "prod-metadata", lambda r: changed(r, "metadata-instance", lambda i: i.pop("dbSubnetGroupName")),
        {("aws-rds-instance-require-network-placement", "metadata-instance",
          f"{RDS} has no subnet group, so AWS places it in the default VPC; set dbSubnetGroupName to a subnet "
          "group of the cluster's private subnets.")},
    ),
    "fail_rds_without_security_groups": (
        "prod-metadata", lambda r: changed(r, "metadata-instance", lambda i: i.update(vpcSecurityGroupIds=[])),
        {("aws-rds-instance-require-network-placement", "metadata-instance",
          f"{RDS} has no security group of its own; set vpcSecurityGroupIds to groups that admit 5432 from the "
          "cluster only.")},
    ),
    "fail_rds_without_iam_auth": (
        "prod-metadata", lambda r: changed(r, "metadata-instance", lambda i: i.pop("iamDatabaseAuthenticationEnabled")),
        {("aws-rds-instance-enable-iam-authentication", "metadata-instance",
          f"{RDS} does not accept IAM authentication; set iamDatabaseAuthenticationEnabled to true.")},
    ),
    "fail_rds_without_log_exports": (
        "prod-metadata",
        lambda r: changed(r, "metadata-instance", lambda i: i.update(enabledCloudwatchLogsExports=["upgrade"])),
        {("aws-rds-instance-enable-log-exports", "metadata-instance",
          f"{RDS} does not export its PostgreSQL log (where pgaudit writes); add postgresql to "
          "enabledCloudwatchLogsExports.")},
    ),
    "fail_rds_deletable": (
        "prod-metadata",
        lambda r: changed(r, "metadata-instance", lambda i: i.update(deletionProtection=False, skipFinalSnapshot=True)),
        {("aws-rds-instance-enable-deletion-protection", "metadata-instance",
          f"{RDS} can be lost on delete (deletionProtection is not true; no final snapshot is taken); set "
          "deletionProtection true and a finalSnapshotIdentifier.")},
    ),
    "fail_rds_short_backups": (
        "prod-metadata", lambda r: changed(r, "metadata-instance", lambda i: i.update(backupRetentionPeriod=3.0)),
        {("aws-rds-instance-configure-backup-retention", "metadata-instance",
          f"{RDS} keeps backups 3 days; set backupRetentionPeriod to at least 7.")},
    ),
    "fail_rds_backups_deleted_with_the_instance": (
        "prod-metadata", lambda r: changed(r, "metadata-instance", lambda i: i.update(deleteAutomatedBackups=True)),
        {("aws-rds-instance-configure-backup-retention", "metadata-instance",
          f"{RDS} deletes its automated backups with the instance; set deleteAutomatedBackups to false so a "
          "deleted instance can still be restored to a point in time within the retention.")},
    ),
    "fail_rds_backups_deleted_by_aws_default": (
        "prod-metadata", lambda r: changed(r, "metadata-instance", lambda i: i.pop("deleteAutomatedBackups")),
        {("aws-rds-instance-configure-backup-retention", "metadata-instance",
          f"{RDS} deletes its automated backups with the instance; set deleteAutomatedBackups to false so a "
          "deleted instance can still be restored to a point in time within the retention.")},
    ),
    "fail_provider_sslmode_require": (
        "prod-metadata", lambda r: changed(r, "metadata-postgresql", lambda i: i.update(sslmode="require")),
        {("postgresql-provider-require-verified-tls", "metadata-postgresql",
          "PostgreSQL provider 'metadata-postgresql' connects with sslmode require; set sslmode to verify-full with "
          "sslrootcert.")},
    ),
    "fail_parameter_group_without_pgaudit_write_or_ssl": (
        "prod-metadata",
        lambda r: changed(changed(r, "metadata-parameters", set_parameter("pgaudit.log", "ddl,role")),
                          "metadata-parameters", set_parameter("rds.force_ssl", "0")),
        {("postgresql-server-configure-pgaudit", "metadata-parameters",
          f"{PARAMETERS} does not audit as required (pgaudit.log lacks write); load pgaudit with pgaudit.log "
          "ddl,role,write."),
         ("aws-rds-parameter-group-require-ssl", "metadata-parameters",
          f"{PARAMETERS} lets clients connect without TLS (rds.force_ssl is 0); set rds.force_ssl to 1.")},
    ),
    "fail_parameter_group_without_forced_ssl": (
        "prod-metadata",
        lambda r: changed(r, "metadata-parameters",
                          lambda i: i.update(parameters=[p for p in i["parameters"] if p["name"] != "rds.force_ssl"])),
        {("aws-rds-parameter-group-require-ssl", "metadata-parameters",
          f"{PARAMETERS} lets clients connect without TLS (rds.force_ssl is not set); set rds.force_ssl to 1.")},
    ),
    "fail_cnpg_without_pgaudit": (
        "dev-metadata",
        lambda r: changed(r, "metadata-cluster", lambda i: i["spec"]["postgresql"]["parameters"].pop("pgaudit.log")),
        {("postgresql-server-configure-pgaudit", "metadata-cluster",
          "CloudNativePG cluster 'metadata' does not audit as required (pgaudit.log lacks ddl, role, write); load "
          "pgaudit with pgaudit.log ddl,role,write.")},
    ),
    "fail_cnpg_without_wal_archive": (
        "dev-metadata", lambda r: changed(r, "metadata-cluster", lambda i: i["spec"].pop("plugins")),
        {("postgresql-cluster-require-backups", "metadata-cluster",
          "CloudNativePG cluster 'metadata' archives no WAL (no plugin with isWALArchiver): it cannot be restored. "
          "Name the Barman Cloud plugin as its WAL archiver with an ObjectStore on the backups bucket and schedule "
          "base backups (components/metadata/backups.py).")},
    ),
    "fail_cnpg_archiving_to_an_undeclared_store": (
        "dev-metadata",
        lambda r: changed(r, "metadata-cluster",
                          lambda i: i["spec"]["plugins"][0]["parameters"].update(barmanObjectName="elsewhere")),
        {("postgresql-cluster-require-backups", "metadata-cluster",
          "CloudNativePG cluster 'metadata' archives WAL to ObjectStore 'elsewhere', which the stack does not "
          "declare in its namespace: it cannot be restored. Name the Barman Cloud plugin as its WAL archiver with an "
          "ObjectStore on the backups bucket and schedule base backups (components/metadata/backups.py).")},
    ),
    "fail_cnpg_without_scheduled_backup": (
        "dev-metadata",
        lambda r: Recording(r.project, r.stack, r.preview,
                            [x for x in r.resources if x.name != "metadata-scheduled-backup"]),
        {("postgresql-cluster-require-backups", "metadata-cluster",
          "CloudNativePG cluster 'metadata' has no ScheduledBackup: it cannot be restored. Name the Barman Cloud "
          "plugin as its WAL archiver with an ObjectStore on the backups bucket and schedule base backups "
          "(components/metadata/backups.py).")},
    ),
    "fail_cnpg_schedule_for_another_cluster": (
        "dev-metadata",
        lambda r: changed(r, "metadata-scheduled-backup", lambda i: i["spec"]["cluster"].update(name="other")),
        {("postgresql-cluster-require-backups", "metadata-cluster",
          "CloudNativePG cluster 'metadata' has no ScheduledBackup: it cannot be restored. Name the Barman Cloud "
          "plugin as its WAL archiver with an ObjectStore on the backups bucket and schedule base backups "
          "(components/metadata/backups.py).")},
    ),
    "fail_superuser_role": (
        "prod-metadata", lambda r: changed(r, "metadata-login-dbt", lambda i: i.update(superuser=True)),
        {("postgresql-role-disallow-superuser", "metadata-login-dbt",
          "PostgreSQL role 'dbt' is a superuser; only the bootstrap admin may be one, so set superuser to false.")},
    ),
    "fail_elasticsearch_tls_off": (
        "prod-logs",
        lambda r: changed(r, "logs-elasticsearch",
                          lambda i: i["spec"].update(http={"tls": {"selfSignedCertificate": {"disabled": True}}})),
        {("elasticsearch-cluster-require-tls", "logs-elasticsearch",
          "Elasticsearch 'logs' serves HTTP without TLS; remove selfSignedCertificate.disabled or set "
          "http.tls.certificate.secretName.")},
    ),
    "fail_ilm_without_delete_phase": (
        "prod-logs", lambda r: changed(r, "logs-ilm-dbt-runs", lambda i: i["policy"]["phases"].pop("delete")),
        {("elasticsearch-ilm-require-delete-phase", "logs-ilm-dbt-runs",
          "ILM policy 'dbt-runs' never deletes; add a delete phase with a delete action.")},
    ),
    "fail_audit_kept_30_days": (
        "prod-logs",
        lambda r: changed(r, "logs-ilm-platform-audit",
                          lambda i: i["policy"]["phases"]["delete"].update(min_age="30d")),
        {("elasticsearch-ilm-configure-audit-retention", "logs-ilm-platform-audit",
          "ILM policy 'platform-audit' deletes audit indices after 30 days; set its delete phase min_age to at "
          "least 90d.")},
    ),
    "fail_role_with_cluster_all_and_every_index": (
        "prod-logs",
        lambda r: changed(r, "logs-role-writer",
                          lambda i: i["role"].update(cluster=["monitor", "all"],
                                                     indices=[{"names": ["*"], "privileges": ["read"]}])),
        {("elasticsearch-role-disallow-wildcard-privileges", "logs-role-writer",
          "Elasticsearch role 'log-writer' grants all, indices *; give application roles only the cluster "
          "privileges and index patterns they use.")},
    ),
    "fail_reader_that_writes": (
        "prod-logs",
        lambda r: changed(r, "logs-role-reader",
                          lambda i: i["role"]["indices"][0]["privileges"].extend(["write", "delete_index"])),
        {("elasticsearch-role-require-read-only-readers", "logs-role-reader",
          "Elasticsearch role 'log-reader' is a reader but grants index delete_index, index write; a reader holds "
          "only read, view_index_metadata (indices) and monitor or monitor_snapshot (cluster).")},
    ),
    "fail_reader_with_a_managing_cluster_privilege_and_run_as": (
        "prod-logs",
        lambda r: changed(r, "logs-role-reader",
                          lambda i: i["role"].update(cluster=["monitor", "manage_index_templates"],
                                                     run_as=["log-shipper"])),
        {("elasticsearch-role-require-read-only-readers", "logs-role-reader",
          "Elasticsearch role 'log-reader' is a reader but grants cluster manage_index_templates, run_as "
          "log-shipper; a reader holds only read, view_index_metadata (indices) and monitor or monitor_snapshot "
          "(cluster).")},
    ),
    "fail_role_marked_read_only_by_metadata_alone": (
        "prod-logs",
        lambda r: changed(r, "logs-role-writer", lambda i: i["role"]["metadata"].update(access="read")),
        {("elasticsearch-role-require-read-only-readers", "logs-role-writer",
          "Elasticsearch role 'log-writer' is a reader but grants index create_doc, index create_index; a reader "
          "holds only read, view_index_metadata (indices) and monitor or monitor_snapshot (cluster).")},
    ),
    "pass_slm_taking_every_index_and_never_expiring": (
        "prod-logs", set_slm(lambda policy: (policy["config"].update(indices=["*"]), policy.pop("retention"))), set(),
    ),
    "pass_slm_taking_audit_in_a_comma_list": (
        "prod-logs", set_slm(lambda policy: policy["config"].update(indices="dbt-runs-*,platform-*")), set(),
    ),
    "fail_cluster_without_snapshots": (
        "prod-logs", lambda r: without(r, logs.SNAPSHOT_REPOSITORY, logs.SLM_POLICY),
        {("elasticsearch-cluster-require-snapshots", "logs-elasticsearch",
          "Elasticsearch 'logs' has no snapshot repository and keeps no snapshot of platform-audit-* for 90 days "
          f"(no SLM policy snapshots them): {SNAPSHOT_REMEDY}")},
    ),
    "fail_audit_snapshots_expiring_early": (
        "prod-logs", set_slm(lambda policy: policy["retention"].update(expire_after="30d")),
        {("elasticsearch-cluster-require-snapshots", "logs-elasticsearch",
          "Elasticsearch 'logs' keeps no snapshot of platform-audit-* for 90 days (SLM policy "
          "'platform-audit-snapshots' expire_after 30d deletes a snapshot before it is 90 days old): "
          f"{SNAPSHOT_REMEDY}")},
    ),
    "fail_audit_snapshots_capped_below_the_schedule": (
        "prod-logs", set_slm(lambda policy: policy.update(schedule="0 0 0/6 * * ?")),
        {("elasticsearch-cluster-require-snapshots", "logs-elasticsearch",
          "Elasticsearch 'logs' keeps no snapshot of platform-audit-* for 90 days (SLM policy "
          "'platform-audit-snapshots' max_count 98 deletes a snapshot before it is 90 days old (its schedule takes "
          f"360 in 90 days)): {SNAPSHOT_REMEDY}")},
    ),
    "fail_audit_snapshots_to_an_undeclared_repository": (
        "prod-logs", set_slm(lambda policy: policy.update(repository="elsewhere")),
        {("elasticsearch-cluster-require-snapshots", "logs-elasticsearch",
          "Elasticsearch 'logs' keeps no snapshot of platform-audit-* for 90 days (SLM policy "
          "'platform-audit-snapshots' writes to repository 'elsewhere', which the stack does not declare): "
          f"{SNAPSHOT_REMEDY}")},
    ),
    "fail_audit_snapshots_to_a_read_only_repository": (
        "prod-logs", lambda r: changed(r, AUDIT_REPOSITORY,
                                       lambda inputs: inputs["repository"]["settings"].update(readonly="true")),
        {("elasticsearch-cluster-require-snapshots", "logs-elasticsearch",
          "Elasticsearch 'logs' keeps no snapshot of platform-audit-* for 90 days (SLM policy "
          "'platform-audit-snapshots' writes to repository 'platform-audit-snapshots', which is read-only): "
          f"{SNAPSHOT_REMEDY}")},
    ),
    "fail_both_policies_writing_to_one_repository": (
        "prod-logs", lambda r: changed(r, "logs-slm-job-log-snapshots",
                                       lambda inputs: inputs["policy"].update(repository="platform-audit-snapshots")),
        {("elasticsearch-cluster-require-snapshots", "logs-elasticsearch",
          "Elasticsearch 'logs': SLM policies 'job-log-snapshots', 'platform-audit-snapshots' write to one repository "
          "'platform-audit-snapshots', so its snapshot alerts cannot tell which one failed; give each policy a "
          "repository of its own (components/logs/spec.py).")},
    ),
    "fail_two_writable_repositories_on_one_path": (
        "prod-logs", lambda r: changed(r, "logs-snapshot-repository-job-log-snapshots", lambda inputs: inputs[
            "repository"]["settings"].update(base_path="elasticsearch/platform-audit-snapshots/")),
        {("elasticsearch-cluster-require-snapshots", "logs-elasticsearch",
          "Elasticsearch 'logs': repositories 'job-log-snapshots', 'platform-audit-snapshots' both write to bucket "
          "'dataplatform-prod-backups' under 'elasticsearch/platform-audit-snapshots' and would overwrite each "
          "other's snapshots; give each a base_path of its own or make all but one read-only.")},
    ),
    "pass_the_former_shared_repository_kept_read_only": ("prod-logs-legacy", lambda r: r, set()),
    "fail_the_former_shared_repository_kept_writable_on_a_policy_s_path": (
        "prod-logs", with_legacy_repository("elasticsearch/job-log-snapshots"),
        {("elasticsearch-cluster-require-snapshots", "logs-elasticsearch",
          "Elasticsearch 'logs': repositories 'job-log-snapshots', 'platform-backups' both write to bucket "
          "'dataplatform-prod-backups' under 'elasticsearch/job-log-snapshots' and would overwrite each other's "
          "snapshots; give each a base_path of its own or make all but one read-only.")},
    ),
    "fail_job_log_snapshots_to_a_read_only_repository": (
        "prod-logs", lambda r: changed(r, "logs-snapshot-repository-job-log-snapshots",
                                       lambda inputs: inputs["repository"]["settings"].update(readonly="true")),
        {("elasticsearch-cluster-require-snapshots", "logs-elasticsearch",
          "Elasticsearch 'logs': SLM policy 'job-log-snapshots' writes to repository 'job-log-snapshots', which is "
          "read-only, so it takes no snapshot; point the policy at a writable repository of its own.")},
    ),
    "fail_job_log_snapshots_to_an_undeclared_repository": (
        "prod-logs", lambda r: changed(r, "logs-slm-job-log-snapshots",
                                       lambda inputs: inputs["policy"].update(repository="elsewhere")),
        {("elasticsearch-cluster-require-snapshots", "logs-elasticsearch",
          "Elasticsearch 'logs': SLM policy 'job-log-snapshots' writes to repository 'elsewhere', which the stack "
          "does not declare; declare it or point the policy at its own repository.")},
    ),
    "fail_no_slm_taking_audit": (
        "prod-logs", set_slm(lambda policy: policy["config"].update(indices=["platform-audit-2026*"])),
        {("elasticsearch-cluster-require-snapshots", "logs-elasticsearch",
          "Elasticsearch 'logs' keeps no snapshot of platform-audit-* for 90 days (no SLM policy snapshots them): "
          f"{SNAPSHOT_REMEDY}")},
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_exact_violations(baselines, case):
    baseline, mutate, expected = CASES[case]
    found = ours(mutate(baselines[baseline]), AUDIT_CONFIG)
    assert found == expected
    assert not [item for item in found if item[2] == SKIPPED]


def test_dev_audit_retention_passes_only_with_the_dev_threshold(baselines):
    dev_logs = record_logs("dev")
    assert ours(dev_logs, {"elasticsearch-ilm-configure-audit-retention": {"minDays": 30}}) == set()
    assert {policy for policy, _, _ in ours(dev_logs, AUDIT_CONFIG)} == {"elasticsearch-ilm-configure-audit-retention"}


def test_prod_without_a_snapshot_repository_fails(stack_recording):
    """Without `storage.s3.oidcProviderArn` the nodes would have no role to assume and the program would declare no
    repository (components/platform.py); the config model refuses such a prod stack before (tests/infra/
    test_config.py), and the pack still stops a prod program that lacks the repository."""
    recording = copy.deepcopy(stack_recording("prod"))
    recording.resources = [resource for resource in recording.resources if resource.type != logs.SNAPSHOT_REPOSITORY]
    found = {item for item in violations(recording) if item[0] == "elasticsearch-cluster-require-snapshots"}
    assert {(policy, name) for policy, name, _ in found} == {
        ("elasticsearch-cluster-require-snapshots", "platform-logs-elasticsearch")}
