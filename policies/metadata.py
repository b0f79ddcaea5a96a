"""Metadata PostgreSQL: the RDS instance and its parameter group, CloudNativePG clusters, the PostgreSQL provider
and the roles it creates. Resource policies over inputs known at preview."""

from __future__ import annotations

from pulumi_policy import Severity

from .common import UNKNOWN, items, known, number, of_type, resource_policy, setting, stack_policy, truthy

RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
CNPG_CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
CNPG_SCHEDULED_BACKUP = "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup"
BARMAN_OBJECT_STORE = "kubernetes:barmancloud.cnpg.io/v1:ObjectStore"
PG_PROVIDER = "pulumi:providers:postgresql"
PG_ROLE = "postgresql:index/role:Role"
VERIFIED_SSL_MODES = ("verify-ca", "verify-full")
PGAUDIT_CLASSES = ("ddl", "role", "write")
MIN_BACKUP_DAYS = 7


def _rds(args) -> bool:
    return args.resource_type == RDS_INSTANCE


def _label(args) -> str:
    identifier = known(args.props, "identifier")
    return f"RDS instance '{identifier if isinstance(identifier, str) else args.name}'"


def _validate_encryption(args, report_violation) -> None:
    if _rds(args) and not (truthy(known(args.props, "storageEncrypted")) and known(args.props, "kmsKeyId")):
        report_violation(f"{_label(args)} is not encrypted with a KMS key; set storageEncrypted and kmsKeyId.")


enable_encryption = resource_policy(
    "aws-rds-instance-enable-encryption",
    "DP-RDS-001",
    "RDS instances encrypt storage with a customer-managed KMS key",
    "Every `aws:rds/instance:Instance` sets `storageEncrypted` true and a `kmsKeyId` (may be unknown at preview).",
    Severity.HIGH,
    ["encryption"],
    "Set storageEncrypted to true and kmsKeyId to the metadata layer's KMS key.",
    _validate_encryption,
)


def _validate_public(args, report_violation) -> None:
    if _rds(args) and known(args.props, "publiclyAccessible") is not False:
        report_violation(f"{_label(args)} may be publicly accessible; set publiclyAccessible to false.")


disallow_public = resource_policy(
    "aws-rds-instance-disallow-public-access",
    "DP-RDS-002",
    "RDS instances are not publicly accessible",
    "Every RDS instance sets `publiclyAccessible` to false explicitly.",
    Severity.CRITICAL,
    ["access"],
    "Set publiclyAccessible to false and reach the instance from inside the VPC.",
    _validate_public,
)


def _validate_network(args, report_violation) -> None:
    if not _rds(args):
        return
    subnet_group = known(args.props, "dbSubnetGroupName")
    security_groups = known(args.props, "vpcSecurityGroupIds")
    if subnet_group is None or subnet_group == "":
        report_violation(
            f"{_label(args)} has no subnet group, so AWS places it in the default VPC; set dbSubnetGroupName to a "
            "subnet group of the cluster's private subnets."
        )
    elif security_groups is not UNKNOWN and not items(security_groups):
        report_violation(
            f"{_label(args)} has no security group of its own; set vpcSecurityGroupIds to groups that admit 5432 "
            "from the cluster only."
        )


require_network_placement = resource_policy(
    "aws-rds-instance-require-network-placement",
    "DP-RDS-007",
    "RDS instances live in the cluster's private subnets behind their own security groups",
    "Every RDS instance sets `dbSubnetGroupName` and a non-empty `vpcSecurityGroupIds` (unknown at preview counts "
    "as set).",
    Severity.HIGH,
    ["access"],
    "Set metadata.network (subnetIds, securityGroupIds) in the stack config.",
    _validate_network,
)


def _validate_iam_auth(args, report_violation) -> None:
    if _rds(args) and not truthy(known(args.props, "iamDatabaseAuthenticationEnabled")):
        report_violation(f"{_label(args)} does not accept IAM authentication; set "
                         "iamDatabaseAuthenticationEnabled to true.")


enable_iam_auth = resource_policy(
    "aws-rds-instance-enable-iam-authentication",
    "DP-RDS-003",
    "RDS instances accept IAM database authentication",
    "Every RDS instance sets `iamDatabaseAuthenticationEnabled` true.",
    Severity.MEDIUM,
    ["access"],
    "Set iamDatabaseAuthenticationEnabled to true on the instance.",
    _validate_iam_auth,
)


def _validate_log_exports(args, report_violation) -> None:
    if _rds(args) and "postgresql" not in items(known(args.props, "enabledCloudwatchLogsExports")):
        report_violation(f"{_label(args)} does not export its PostgreSQL log (where pgaudit writes); add "
                         "postgresql to enabledCloudwatchLogsExports.")


enable_log_exports = resource_policy(
    "aws-rds-instance-enable-log-exports",
    "DP-RDS-004",
    "RDS instances export the PostgreSQL log to CloudWatch",
    "Every RDS instance lists `postgresql` in `enabledCloudwatchLogsExports` (the audit trail of pgaudit).",
    Severity.HIGH,
    ["audit"],
    "Add postgresql to enabledCloudwatchLogsExports on the instance.",
    _validate_log_exports,
)


def _validate_deletion(args, report_violation) -> None:
    if not _rds(args):
        return
    problems = []
    if not truthy(known(args.props, "deletionProtection")):
        problems.append("deletionProtection is not true")
    if truthy(known(args.props, "skipFinalSnapshot")) or not known(args.props, "finalSnapshotIdentifier"):
        problems.append("no final snapshot is taken")
    if problems:
        report_violation(f"{_label(args)} can be lost on delete ({'; '.join(problems)}); set deletionProtection "
                         "true and a finalSnapshotIdentifier.")


enable_deletion_protection = resource_policy(
    "aws-rds-instance-enable-deletion-protection",
    "DP-RDS-005",
    "RDS instances are protected from deletion and keep a final snapshot",
    "Every RDS instance sets `deletionProtection` true, does not skip the final snapshot and names it.",
    Severity.HIGH,
    ["retention"],
    "Set deletionProtection to true, skipFinalSnapshot to false and a finalSnapshotIdentifier.",
    _validate_deletion,
)


def _validate_backups(args, report_violation) -> None:
    if not _rds(args):
        return
    minimum = setting(args, "minDays", MIN_BACKUP_DAYS)
    days = number(known(args.props, "backupRetentionPeriod"))
    if days is None or days < minimum:
        report_violation(f"{_label(args)} keeps backups {int(days or 0)} days; set backupRetentionPeriod to at "
                         f"least {minimum}.")
    # AWS deletes an instance's automated backups with it unless told otherwise (the default is true).
    keeps = known(args.props, "deleteAutomatedBackups")
    if keeps is not UNKNOWN and keeps is not False:
        report_violation(f"{_label(args)} deletes its automated backups with the instance; set "
                         "deleteAutomatedBackups to false so a deleted instance can still be restored to a point "
                         "in time within the retention.")


configure_backup_retention = resource_policy(
    "aws-rds-instance-configure-backup-retention",
    "DP-RDS-006",
    "RDS instances keep automated backups long enough, also after a deletion",
    "Every RDS instance sets `backupRetentionPeriod` to at least `minDays` (7) and `deleteAutomatedBackups` to "
    "false (AWS's default deletes the automated backups with the instance).",
    Severity.MEDIUM,
    ["retention"],
    "Set backupRetentionPeriod to at least seven days and deleteAutomatedBackups to false.",
    _validate_backups,
    config={"minDays": {"type": "integer", "minimum": 1, "default": MIN_BACKUP_DAYS,
                        "description": "Fewest days automated backups are kept."}},
)


def _validate_provider_tls(args, report_violation) -> None:
    if args.resource_type != PG_PROVIDER:
        return
    mode = known(args.props, "sslmode")
    if mode is UNKNOWN:
        return
    if mode not in VERIFIED_SSL_MODES:
        report_violation(f"PostgreSQL provider '{args.name}' connects with sslmode {mode or 'unset (prefer)'}; set "
                         "sslmode to verify-full with sslrootcert.")


require_provider_tls = resource_policy(
    "postgresql-provider-require-verified-tls",
    "DP-PG-001",
    "The PostgreSQL provider verifies the server's certificate",
    "Every explicit `pulumi:providers:postgresql` sets `sslmode` to `verify-ca` or `verify-full`.",
    Severity.HIGH,
    ["transport"],
    "Set sslmode to verify-full and sslrootcert to the CA file on the PostgreSQL provider.",
    _validate_provider_tls,
)


def _missing_classes(value) -> list[str]:
    if not isinstance(value, str):
        return list(PGAUDIT_CLASSES)
    classes = {part.strip().lower() for part in value.split(",")}
    if "all" in classes:
        return []
    return [name for name in PGAUDIT_CLASSES if name not in classes]


def _validate_pgaudit(args, report_violation) -> None:
    if args.resource_type == RDS_PARAMETER_GROUP:
        family = known(args.props, "family")
        if not (isinstance(family, str) and family.startswith("postgres")):
            return
        values = {known(p, "name"): known(p, "value") for p in items(known(args.props, "parameters"))}
        problems = []
        if "pgaudit" not in str(values.get("shared_preload_libraries") or ""):
            problems.append("shared_preload_libraries lacks pgaudit")
        missing = _missing_classes(values.get("pgaudit.log"))
        if missing:
            problems.append(f"pgaudit.log lacks {', '.join(missing)}")
        label = f"RDS parameter group '{known(args.props, 'name') or args.name}'"
    elif args.resource_type == CNPG_CLUSTER:
        parameters = known(args.props, "spec", "postgresql", "parameters")
        missing = _missing_classes(known(parameters, "pgaudit.log"))
        problems = [f"pgaudit.log lacks {', '.join(missing)}"] if missing else []
        label = f"CloudNativePG cluster '{known(args.props, 'metadata', 'name') or args.name}'"
    else:
        return
    if problems:
        report_violation(f"{label} does not audit as required ({'; '.join(problems)}); load pgaudit with "
                         "pgaudit.log ddl,role,write.")


configure_pgaudit = resource_policy(
    "postgresql-server-configure-pgaudit",
    "DP-PG-002",
    "PostgreSQL servers audit DDL, role and write statements",
    "Every postgres-family `aws:rds/parameterGroup:ParameterGroup` preloads pgaudit and sets `pgaudit.log` "
    "covering ddl, role and write; every CloudNativePG `Cluster` sets `pgaudit.log` likewise (the operator then "
    "preloads the library).",
    Severity.HIGH,
    ["audit"],
    "Preload pgaudit and set pgaudit.log to ddl,role,write.",
    _validate_pgaudit,
)


def _validate_forced_ssl(args, report_violation) -> None:
    if args.resource_type != RDS_PARAMETER_GROUP:
        return
    family = known(args.props, "family")
    if not (isinstance(family, str) and family.startswith("postgres")):
        return
    values = {known(p, "name"): known(p, "value") for p in items(known(args.props, "parameters"))}
    if str(values.get("rds.force_ssl")) != "1":
        seen = values.get("rds.force_ssl")
        shown = "is not set" if seen is None else f"is {seen}"
        report_violation(f"RDS parameter group '{known(args.props, 'name') or args.name}' lets clients connect "
                         f"without TLS (rds.force_ssl {shown}); set rds.force_ssl to 1.")


require_forced_ssl = resource_policy(
    "aws-rds-parameter-group-require-ssl",
    "DP-RDS-009",
    "RDS PostgreSQL refuses connections without TLS",
    "Every postgres-family `aws:rds/parameterGroup:ParameterGroup` sets `rds.force_ssl` to 1, so the server "
    "refuses a client that does not negotiate TLS.",
    Severity.HIGH,
    ["transport"],
    "Set rds.force_ssl to 1 in the instance's parameter group.",
    _validate_forced_ssl,
)


def _validate_superuser(args, report_violation) -> None:
    if args.resource_type == PG_ROLE and known(args.props, "superuser") not in (False, None):
        report_violation(f"PostgreSQL role '{known(args.props, 'name') or args.name}' is a superuser; only the "
                         "bootstrap admin may be one, so set superuser to false.")


disallow_superuser = resource_policy(
    "postgresql-role-disallow-superuser",
    "DP-PG-003",
    "No managed PostgreSQL role is a superuser",
    "No `postgresql:index/role:Role` sets `superuser` (the provider's bootstrap admin is the only superuser).",
    Severity.CRITICAL,
    ["access"],
    "Set superuser to false on the role and grant it only the privileges the catalog gives it.",
    _validate_superuser,
)


def _namespace(props) -> object:
    return known(props, "metadata", "namespace")


def _wal_archive(cluster) -> tuple[bool, object]:
    """Whether the Cluster archives WAL, and the ObjectStore a plugin archives to (None: the in-tree
    `backup.barmanObjectStore`, deprecated since CloudNativePG 1.26, or no plugin)."""
    for plugin in items(known(cluster.props, "spec", "plugins")):
        if truthy(known(plugin, "isWALArchiver")) and known(plugin, "enabled") is not False:
            return True, known(plugin, "parameters", "barmanObjectName")
    return known(cluster.props, "spec", "backup", "barmanObjectStore") is not None, None


def _validate_cluster_backups(args, report_violation) -> None:
    schedules = of_type(args.resources, CNPG_SCHEDULED_BACKUP)
    stores = {(_namespace(store.props), known(store.props, "metadata", "name"))
              for store in of_type(args.resources, BARMAN_OBJECT_STORE)}
    for cluster in of_type(args.resources, CNPG_CLUSTER):
        name, namespace = known(cluster.props, "metadata", "name"), _namespace(cluster.props)
        if UNKNOWN in (name, namespace):
            continue
        label = f"CloudNativePG cluster '{name or cluster.name}'"
        problems = []
        archived, store = _wal_archive(cluster)
        if not archived:
            problems.append("archives no WAL (no plugin with isWALArchiver)")
        elif store is not None and store is not UNKNOWN and (namespace, store) not in stores:
            problems.append(f"archives WAL to ObjectStore '{store}', which the stack does not declare in its "
                            "namespace")
        targets = [(known(schedule.props, "spec", "cluster", "name"), _namespace(schedule.props))
                   for schedule in schedules]
        if UNKNOWN not in {target for pair in targets for target in pair} and (name, namespace) not in targets:
            problems.append("has no ScheduledBackup")
        if problems:
            report_violation(f"{label} {' and '.join(problems)}: it cannot be restored. Name the Barman Cloud plugin "
                             "as its WAL archiver with an ObjectStore on the backups bucket and schedule base "
                             "backups (components/metadata/backups.py).", cluster.urn)


require_cluster_backups = stack_policy(
    "postgresql-cluster-require-backups",
    "DP-PG-004",
    "CloudNativePG clusters archive WAL and take scheduled base backups",
    "Every CloudNativePG `Cluster` names a WAL archiver plugin (or the in-tree barmanObjectStore), the ObjectStore "
    "the plugin names is declared in the cluster's namespace, and a `ScheduledBackup` targets the cluster. Without "
    "both a point-in-time restore has nothing to start from.",
    Severity.HIGH,
    ["retention"],
    "Give the Cluster `plugins: [{name: barman-cloud.cloudnative-pg.io, isWALArchiver: true, parameters: "
    "{barmanObjectName: <ObjectStore>}}]` and declare a ScheduledBackup with `method: plugin` for it.",
    _validate_cluster_backups,
)


POLICIES = [
    enable_encryption,
    disallow_public,
    require_network_placement,
    enable_iam_auth,
    enable_log_exports,
    enable_deletion_protection,
    configure_backup_retention,
    require_provider_tls,
    configure_pgaudit,
    require_forced_ssl,
    disallow_superuser,
    require_cluster_backups,
]
