"""Metadata PostgreSQL: the RDS instance and its parameter group, CloudNativePG clusters, the PostgreSQL provider
and the roles it creates. Resource policies over inputs known at preview."""

from __future__ import annotations

from pulumi_policy import Severity

from .common import (
    UNKNOWN,
    as_list,
    items,
    known,
    number,
    of_type,
    policy_statements,
    resource_policy,
    setting,
    stack_policy,
    truthy,
)

RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
CNPG_CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
CNPG_SCHEDULED_BACKUP = "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup"
BARMAN_OBJECT_STORE = "kubernetes:barmancloud.cnpg.io/v1:ObjectStore"
RDS_EVENT_SUBSCRIPTION = "aws:rds/eventSubscription:EventSubscription"
SNS_TOPIC = "aws:sns/topic:Topic"
SNS_SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
KMS_KEY = "aws:kms/key:Key"
KMS_KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
REQUIRED_EVENT_CATEGORIES = ("backup", "failure")
RDS_EVENTS_PRINCIPAL = "events.rds.amazonaws.com"
AWS_MANAGED_SNS_KEY = "alias/aws/sns"
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


def _refers(resource, key: str, target) -> bool:
    """Whether `resource`'s input `key` comes from `target` (by property dependency, as the engine records it)."""
    return target.urn in {dep.urn for dep in resource.property_dependencies.get(key, [])}


def _names_instance(subscription, instance, identifier: str) -> bool:
    """Whether an event subscription covers the instance: it names the instance's identifier (or takes it from the
    instance), or it names no source at all (every instance of the account)."""
    if known(subscription.props, "sourceType") not in (None, "db-instance"):
        return False
    ids = known(subscription.props, "sourceIds")
    if ids is None or (ids is not UNKNOWN and not items(ids)):
        return True
    return identifier in items(ids) or _refers(subscription, "sourceIds", instance)


def _key_admits_rds_events(document) -> bool | None:
    """Whether a key policy lets RDS's event service encrypt for the topic; None when the policy is not known."""
    statements = policy_statements(document)
    if statements is None:
        return None
    granted: set[str] = set()
    for statement in statements:
        principal = statement.get("Principal")
        services = as_list(principal.get("Service")) if isinstance(principal, dict) else []
        if statement.get("Effect") == "Allow" and RDS_EVENTS_PRINCIPAL in services:
            granted |= set(as_list(statement.get("Action")))
    generates = bool(granted & {"kms:GenerateDataKey*", "kms:GenerateDataKey", "kms:*"})
    return generates and bool(granted & {"kms:Decrypt", "kms:*"})


def _topic_problems(args, topic) -> list[str]:
    name = known(topic.props, "name")
    label = f"topic '{name if isinstance(name, str) else topic.name}'"
    problems = []
    key_id = known(topic.props, "kmsMasterKeyId")
    if key_id is None or key_id == "":
        problems.append(f"{label} is not encrypted (no kmsMasterKeyId)")
    elif key_id == AWS_MANAGED_SNS_KEY:
        problems.append(f"{label} is encrypted with the AWS-managed key {AWS_MANAGED_SNS_KEY}, whose policy cannot let "
                        f"{RDS_EVENTS_PRINCIPAL} use it")
    else:
        for key in (resource for resource in of_type(args.resources, KMS_KEY) if _refers(topic, "kmsMasterKeyId",
                                                                                         resource)):
            documents = [known(key.props, "policy")] + [
                known(attached.props, "policy") for attached in of_type(args.resources, KMS_KEY_POLICY)
                if _refers(attached, "keyId", key)]
            verdicts = [_key_admits_rds_events(document) for document in documents if document is not None]
            if verdicts and None not in verdicts and not any(verdicts):
                problems.append(f"the key of {label} does not let {RDS_EVENTS_PRINCIPAL} use it (kms:GenerateDataKey* "
                                "and kms:Decrypt), so RDS cannot publish to it")
    if not any(_refers(subscription, "topic", topic) for subscription in of_type(args.resources, SNS_SUBSCRIPTION)):
        problems.append(f"{label} has no subscription, so its events reach no one")
    return problems


def _subscription_problems(args, subscription) -> list[str]:
    label = f"subscription '{known(subscription.props, 'name') or subscription.name}'"
    problems = []
    categories = known(subscription.props, "eventCategories")
    if categories is not UNKNOWN and items(categories):
        missing = [category for category in REQUIRED_EVENT_CATEGORIES if category not in items(categories)]
        if missing:
            problems.append(f"{label} leaves out {', '.join(missing)}")
    topics = [topic for topic in of_type(args.resources, SNS_TOPIC) if _refers(subscription, "snsTopic", topic)]
    if not topics:
        problems.append(f"{label} sends to a topic the stack does not declare, whose encryption cannot be checked")
    for topic in topics:
        problems += _topic_problems(args, topic)
    return problems


def _validate_event_subscription(args, report_violation) -> None:
    subscriptions = [subscription for subscription in of_type(args.resources, RDS_EVENT_SUBSCRIPTION)
                     if known(subscription.props, "enabled") is not False]
    for instance in of_type(args.resources, RDS_INSTANCE):
        identifier = known(instance.props, "identifier")
        if identifier is UNKNOWN:
            continue
        label = f"RDS instance '{identifier if isinstance(identifier, str) else instance.name}'"
        covering = [subscription for subscription in subscriptions
                    if _names_instance(subscription, instance, identifier if isinstance(identifier, str) else "")]
        if not covering:
            problems = ["no enabled event subscription names it"]
        else:
            found = sorted((_subscription_problems(args, subscription) for subscription in covering), key=len)
            problems = found[0]
        if problems:
            report_violation(f"{label} reports its events to no one who would see them ({'; '.join(problems)}): a "
                             "failed backup or a failed instance would go unnoticed. Subscribe it to the backup and "
                             "failure categories, to an SNS topic encrypted with a customer-managed key that admits "
                             f"{RDS_EVENTS_PRINCIPAL}, with at least one subscriber (components/metadata/events.py).",
                             instance.urn)


require_event_subscription = stack_policy(
    "aws-rds-instance-require-event-subscription",
    "DP-RDS-008",
    "RDS instances report backup and failure events to an encrypted SNS topic that reaches someone",
    "Every RDS instance is named (or, with no source ids, covered) by an enabled `aws:rds/eventSubscription:"
    "EventSubscription` of source type `db-instance` whose categories include `backup` and `failure` (none listed "
    "means all); the subscription's `snsTopic` is an `aws:sns/topic:Topic` of the stack with a `kmsMasterKeyId` other "
    "than the AWS-managed `alias/aws/sns`; when that key is the stack's, its policy (inline or a `KeyPolicy`) lets "
    "`events.rds.amazonaws.com` use `kms:GenerateDataKey*` and `kms:Decrypt`, a condition on the topic's encryption "
    "context allowed (the SNS Developer Guide's requirement for AWS event sources); and at least one "
    "`aws:sns/topicSubscription:TopicSubscription` "
    "takes from the topic. RDS runs the automated backups; without this nothing reports a failed one.",
    Severity.HIGH,
    ["retention"],
    "Declare the event subscription, the encrypted topic and an e-mail subscriber (metadata.eventEmails or an "
    "alerting e-mail receiver).",
    _validate_event_subscription,
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
    require_event_subscription,
]
