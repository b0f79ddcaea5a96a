"""The platform's own identities hold no more than they use: RDS keeps its master password, the audit log group is
encrypted, each AWS service may use a key only under the condition AWS documents for it, service principals of a
bucket policy are bound to the account, no identity reads old object versions or deletes audit trails, and
Superset's Valkey has no open default user and probes that log in. Each closes a mistake of the security mutation
suite (infra/offline/security_mutants/identity.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from .common import (
    AUDIT_BUCKET_ROLES,
    AUDIT_BUCKETS_SETTING,
    AWS_BUCKET,
    MINIO_BUCKET,
    UNKNOWN,
    as_list,
    bucket_name,
    has_key,
    is_audit_bucket,
    items,
    known,
    of_type,
    policy_statements,
    resource_policy,
    setting,
    stack_policy,
    truthy,
)

RDS_INSTANCE = "aws:rds/instance:Instance"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
KMS_KEY = "aws:kms/key:Key"
KMS_KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
RELEASE = "kubernetes:helm.sh/v3:Release"
PG_ROLE = "postgresql:index/role:Role"
PG_GRANT = "postgresql:index/grant:Grant"
PG_DEFAULT_PRIVILEGES = "postgresql:index/defaultPrivileges:DefaultPrivileges"
IDENTITY_DOCUMENTS = (
    "aws:iam/policy:Policy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/groupPolicy:GroupPolicy",
    "minio:index/iamPolicy:IamPolicy",
)
# Conditions that bind a service principal's use of a key to this account's resources (the form each service
# documents: kms:EncryptionContext:* for CloudWatch Logs and SNS, aws:SourceArn/aws:SourceAccount for the rest).
SERVICE_BINDINGS = ("kms:EncryptionContext:", "aws:SourceArn", "aws:SourceAccount", "kms:ViaService",
                    "kms:CallerAccount")
USE_ACTIONS = ("kms:encrypt", "kms:decrypt", "kms:reencrypt", "kms:generatedatakey", "kms:creategrant", "kms:create*",
               "kms:*", "*")
# `s3:*` and `*` are the wildcard policies' (aws-iam-policy-disallow-wildcard-access, MinIO's): not reported twice.
VERSION_ACTIONS = ("s3:getobjectversion", "s3:getobject*", "s3:get*")
DELETE_ACTIONS = ("s3:deleteobject", "s3:deleteobjectversion", "s3:delete*", "s3:putobjectretention",
                  "s3:bypassgovernanceretention", "s3:putlifecycleconfiguration")
VALKEY_CHART = "valkey"
PROBES = ("startupProbe", "livenessProbe", "readinessProbe")


def _condition_keys(statement: Mapping[str, Any]) -> set[str]:
    condition = statement.get("Condition")
    if not isinstance(condition, Mapping):
        return set()
    return {key for operator in condition.values() if isinstance(operator, Mapping) for key in operator}


def _actions(statement: Mapping[str, Any]) -> list[str]:
    return [action.lower() for action in as_list(statement.get("Action")) if isinstance(action, str)]


def _matches(actions: list[str], patterns: tuple[str, ...]) -> list[str]:
    return [action for action in actions if any(action == pattern or action.startswith(pattern)
                                                 for pattern in patterns)]


def _sid(statement: Mapping[str, Any]) -> str:
    return str(statement.get("Sid") or "(no Sid)")


# ---- RDS master password -------------------------------------------------------------------------------------------


def _validate_master_password(args, report_violation) -> None:
    if args.resource_type != RDS_INSTANCE:
        return
    identifier = known(args.props, "identifier")
    label = f"RDS instance '{identifier if isinstance(identifier, str) else args.name}'"
    if has_key(args.props, "password") or has_key(args.props, "passwordWo"):
        report_violation(f"{label} is given its master password (`password`), which then sits in the program's "
                         "state; set manageMasterUserPassword so RDS keeps it in Secrets Manager, and log in with "
                         "IAM authentication (components/metadata/iam_login.py).")
    elif not truthy(known(args.props, "manageMasterUserPassword")):
        report_violation(f"{label} does not let RDS manage its master password; set manageMasterUserPassword to "
                         "true (and masterUserSecretKmsKeyId to the metadata key).")
    elif not known(args.props, "masterUserSecretKmsKeyId"):
        report_violation(f"{label} keeps its master-user secret under the account's default key; set "
                         "masterUserSecretKmsKeyId to the metadata key, whose policy admits Secrets Manager only for "
                         "this account.")


require_managed_master_password = resource_policy(
    "aws-rds-instance-require-managed-master-password",
    "DP-ID-001",
    "RDS keeps the master password; the program and its state never hold it",
    "Every `aws:rds/instance:Instance` sets `manageMasterUserPassword` true with a `masterUserSecretKmsKeyId`, and "
    "sets neither `password` nor `passwordWo`.",
    Severity.HIGH,
    ["access", "encryption"],
    "Set manageMasterUserPassword and masterUserSecretKmsKeyId; remove password.",
    _validate_master_password,
)


# ---- CloudWatch Logs -----------------------------------------------------------------------------------------------


def _validate_log_group_key(args, report_violation) -> None:
    if args.resource_type == LOG_GROUP and not known(args.props, "kmsKeyId"):
        name = known(args.props, "name")
        report_violation(f"CloudWatch log group '{name if isinstance(name, str) else args.name}' is not encrypted "
                         "with a customer-managed key; set kmsKeyId to the key whose policy admits "
                         "logs.<region>.amazonaws.com for this log group.")


require_log_group_key = resource_policy(
    "aws-cloudwatch-log-group-require-kms",
    "DP-ID-002",
    "CloudWatch log groups are encrypted with a customer-managed key",
    "Every `aws:cloudwatch/logGroup:LogGroup` sets `kmsKeyId` (unknown at preview counts as set).",
    Severity.HIGH,
    ["encryption", "audit"],
    "Set kmsKeyId on the log group to the layer's KMS key.",
    _validate_log_group_key,
)


# ---- key policies --------------------------------------------------------------------------------------------------


def _key_problems(statements: list[Mapping[str, Any]]) -> list[str]:
    problems = []
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        if not isinstance(principal, Mapping):
            continue
        keys = _condition_keys(statement)
        services = [service for service in as_list(principal.get("Service")) if isinstance(service, str)]
        if services and not any(key.startswith(SERVICE_BINDINGS) for key in keys):
            problems.append(f"statement {_sid(statement)} lets {', '.join(services)} use the key with no condition "
                            "binding it to this account's resources (kms:EncryptionContext:*, aws:SourceArn or "
                            "aws:SourceAccount)")
        roots = [arn for arn in as_list(principal.get("AWS")) if isinstance(arn, str) and arn.endswith(":root")]
        use = _matches(_actions(statement), USE_ACTIONS)
        if roots and use and "kms:ViaService" not in keys:
            problems.append(f"statement {_sid(statement)} gives the account root {', '.join(sorted(set(use)))} "
                            "without kms:ViaService, so any administrator with an IAM policy may encrypt, decrypt "
                            "or grant itself use")
    return problems


def _validate_key_policies(args, report_violation) -> None:
    attached: dict[str, list[Any]] = {}
    for policy in of_type(args.resources, KMS_KEY_POLICY):
        for dependency in policy.property_dependencies.get("keyId", []):
            attached.setdefault(dependency.urn, []).append(known(policy.props, "policy"))
    for key in of_type(args.resources, KMS_KEY):
        documents = [document for document in [known(key.props, "policy"), *attached.get(key.urn, [])]
                     if document is not None]
        label = f"KMS key '{key.name}'"
        if not documents:
            report_violation(f"{label} has no key policy, so AWS gives it the default one (the account root with "
                             "kms:*): every administrator may decrypt with it. Declare a policy that names who uses "
                             "it and under which condition.", key.urn)
            continue
        for document in documents:
            statements = policy_statements(document)
            if statements is None:
                continue  # unknown at preview: DP-KMS-002 asks for a known document
            problems = _key_problems(statements)
            if problems:
                report_violation(f"{label}'s policy: {'; '.join(problems)}. Add the condition the service documents "
                                 "(components/metadata/keys.py).", key.urn)


require_key_use_conditions = stack_policy(
    "aws-kms-key-policy-require-service-conditions",
    "DP-ID-003",
    "Key policies let each AWS service use a key only under that service's documented condition",
    "Every `aws:kms/key:Key` has a policy (inline or an `aws:kms/keyPolicy:KeyPolicy`); in it, an `Allow` to a "
    "service principal carries a condition binding it to the account's resources (`kms:EncryptionContext:*`, "
    "`aws:SourceArn`, `aws:SourceAccount`, `kms:ViaService` or `kms:CallerAccount`), and an `Allow` of "
    "encrypt, decrypt, re-encrypt, data-key or grant actions to the account root carries `kms:ViaService`.",
    Severity.HIGH,
    ["encryption", "access"],
    "Give each service statement its documented condition (CloudWatch Logs: kms:EncryptionContext:aws:logs:arn; "
    "RDS, Secrets Manager, S3: kms:ViaService and kms:CallerAccount; SNS publishers: "
    "kms:EncryptionContext:aws:sns:topicArn).",
    _validate_key_policies,
)


# ---- bucket policies -----------------------------------------------------------------------------------------------


def _validate_service_source(args, report_violation) -> None:
    if args.resource_type != BUCKET_POLICY:
        return
    for statement in policy_statements(known(args.props, "policy")) or []:
        principal = statement.get("Principal")
        if statement.get("Effect") != "Allow" or not isinstance(principal, Mapping) or "Service" not in principal:
            continue
        missing = [key for key in ("aws:SourceArn", "aws:SourceAccount") if key not in _condition_keys(statement)]
        if missing:
            services = ", ".join(str(service) for service in as_list(principal.get("Service")))
            report_violation(f"Bucket policy '{args.name}' statement {_sid(statement)} lets {services} in without "
                             f"{' and '.join(missing)}: bucket names are global, so another account's bucket of "
                             "that name could have its logs delivered here. Add both conditions (S3 User Guide, "
                             "\"Permissions for log delivery\").")


require_service_source = resource_policy(
    "aws-s3-bucket-policy-require-source-account",
    "DP-ID-004",
    "Bucket policies bind AWS service principals to this account's resources",
    "In every `aws:s3/bucketPolicy:BucketPolicy`, an `Allow` statement to a service principal carries both "
    "`aws:SourceArn` and `aws:SourceAccount` conditions.",
    Severity.HIGH,
    ["access"],
    "Add aws:SourceAccount (the stack's account) beside aws:SourceArn.",
    _validate_service_source,
)


# ---- identity policies ---------------------------------------------------------------------------------------------


def _validate_object_versions(args, report_violation) -> None:
    if args.resource_type not in IDENTITY_DOCUMENTS:
        return
    for statement in policy_statements(known(args.props, "policy")) or []:
        if statement.get("Effect") != "Allow":
            continue
        found = _matches(_actions(statement), VERSION_ACTIONS)
        if found:
            report_violation(f"Identity policy '{args.name}' statement {_sid(statement)} allows "
                             f"{', '.join(sorted(set(found)))}, which reads overwritten and deleted versions; only a "
                             "restore needs that, and an operator's role runs restores (infra/ops/restore_objects.py). "
                             "Grant s3:GetObject alone.")


disallow_object_versions = resource_policy(
    "aws-iam-policy-disallow-object-versions",
    "DP-ID-005",
    "No platform identity reads old object versions",
    "No `Allow` statement of an identity policy (IAM user, role, group and managed policies, MinIO policies) grants "
    "`s3:GetObjectVersion` or a wildcard that covers it (`s3:GetObject*`, `s3:Get*`; `s3:*` and `*` are the "
    "wildcard-access policies').",
    Severity.MEDIUM,
    ["access"],
    "Replace the action by s3:GetObject.",
    _validate_object_versions,
)


def _audit_buckets(args) -> list[str]:
    roles = setting(args, "auditRoles", AUDIT_BUCKET_ROLES)
    by_name = setting(args, "auditBuckets", [])
    names = []
    for bucket in [*of_type(args.resources, AWS_BUCKET), *of_type(args.resources, MINIO_BUCKET)]:
        name = bucket_name(bucket.props)
        if name and is_audit_bucket(bucket.props, roles, by_name):
            names.append(name)
    return names


def _validate_audit_deletes(args, report_violation) -> None:
    audit = _audit_buckets(args)
    for resource in [r for type_ in IDENTITY_DOCUMENTS for r in of_type(args.resources, type_)]:
        for statement in policy_statements(known(resource.props, "policy")) or []:
            if statement.get("Effect") != "Allow":
                continue
            found = _matches(_actions(statement), DELETE_ACTIONS)
            resources = [str(item) for item in as_list(statement.get("Resource"))]
            hit = sorted({bucket for bucket in audit for item in resources
                          if item == "*" or item.startswith(f"arn:aws:s3:::{bucket}")})
            if found and hit:
                report_violation(f"Identity policy '{resource.name}' statement {_sid(statement)} may "
                                 f"{', '.join(sorted(set(found)))} in the audit bucket(s) {', '.join(hit)}: an audit "
                                 "trail's writer only adds (s3:PutObject, s3:AbortMultipartUpload).", resource.urn)


require_append_only_audit = stack_policy(
    "aws-iam-policy-require-append-only-audit-writes",
    "DP-ID-006",
    "No identity deletes or rewrites the retention of an audit bucket's objects",
    "No `Allow` statement of an identity policy grants a delete (`s3:DeleteObject`, `s3:DeleteObjectVersion`, "
    "`s3:Delete*`; `s3:*` and `*` are the wildcard-access policies') or `s3:PutObjectRetention`, "
    "`s3:BypassGovernanceRetention`, "
    "`s3:PutLifecycleConfiguration` on an audit bucket (a physical name of `auditBuckets`, the stack's facts, or a "
    "role tag of `auditRoles`).",
    Severity.HIGH,
    ["audit", "access"],
    "Give the audit trail's writer s3:PutObject and s3:AbortMultipartUpload only.",
    _validate_audit_deletes,
    config={"auditRoles": {"type": "array", "items": {"type": "string"}, "default": AUDIT_BUCKET_ROLES,
                           "description": "Bucket roles (the `dataplatform:role` tag) that hold audit trails."},
            "auditBuckets": AUDIT_BUCKETS_SETTING},
)


# ---- PostgreSQL default privileges -------------------------------------------------------------------------------


def _text(props: Any, key: str) -> str | None:
    value = known(props, key)
    return value if isinstance(value, str) else None


def _validate_login_defaults(args, report_violation) -> None:
    creators: dict[str, set[tuple[str | None, str]]] = {}  # group -> (database, schema) it may create in
    for grant in of_type(args.resources, PG_GRANT):
        privileges = [str(item).upper() for item in items(known(grant.props, "privileges"))]
        if _text(grant.props, "objectType") == "schema" and "CREATE" in privileges:
            creators.setdefault(_text(grant.props, "role") or "", set()).add(
                (_text(grant.props, "database"), _text(grant.props, "schema") or ""))
    defaults = {(_text(d.props, "database"), _text(d.props, "schema"), _text(d.props, "owner"), _text(d.props, "role"))
                for d in of_type(args.resources, PG_DEFAULT_PRIVILEGES) if _text(d.props, "objectType") == "table"}
    for login in of_type(args.resources, PG_ROLE):
        name = _text(login.props, "name")
        if not name or not truthy(known(login.props, "login")):
            continue
        missing = []
        for group in [item for item in items(known(login.props, "roles")) if isinstance(item, str)]:
            for database, schema in sorted(creators.get(group, ()), key=str):
                readers = sorted({role for (db, sc, owner, role) in defaults if (db, sc, owner) == (
                    database, schema, group) and role and role != group})
                uncovered = [role for role in readers if (database, schema, name, role) not in defaults]
                if uncovered:
                    missing.append(f"{schema} (for {', '.join(uncovered)})")
        if missing:
            report_violation(f"PostgreSQL login '{name}' may create tables in {'; '.join(missing)}, where it creates "
                             "them as itself, but the default privileges there are declared only for its group: the "
                             "other roles get \"permission denied for table\". Declare the same default privileges "
                             f"FOR ROLE {name} (components/metadata/access.py).", login.urn)


require_login_defaults = stack_policy(
    "postgresql-default-privileges-require-creating-logins",
    "DP-ID-008",
    "Default privileges cover the tables each service login creates",
    "For every login `postgresql:index/role:Role` that is a member of a group role with CREATE on a schema (an "
    "`objectType: schema` grant), every table default privilege declared for that group as owner in that schema "
    "is also declared with the login as owner.",
    Severity.MEDIUM,
    ["access"],
    "Declare the default privileges for each login that creates tables, as for its group.",
    _validate_login_defaults,
)


# ---- Valkey --------------------------------------------------------------------------------------------------------


def _enabled_last(permissions: str) -> bool:
    """Whether an ACL rule list leaves the user on (its last `on`/`off` wins; `on` is how the chart starts it)."""
    state = True
    for token in permissions.split():
        if token in ("on", "off"):
            state = token == "on"
    return state


def _valkey_problems(values: Any) -> list[str]:
    problems = []
    if not truthy(known(values, "auth", "enabled")):
        return ["auth.enabled is not true, so anyone who reaches the port runs every command"]
    users = known(values, "auth", "aclUsers")
    if users is UNKNOWN:
        return []
    users = users if isinstance(users, Mapping) else {}
    default = known(users, "default", "permissions")
    if "default" not in users or not isinstance(default, str) or _enabled_last(default):
        problems.append("the `default` user is on (clients that name no user get its rights); end its permissions "
                        "with `off`")
    for name in users:
        permissions = known(users, name, "permissions")
        if not isinstance(permissions, str) or not _enabled_last(permissions):
            continue
        tokens = permissions.split()
        if ("+@all" in tokens or "allcommands" in tokens) and not {"-@admin", "-@dangerous"} <= set(tokens):
            problems.append(f"user `{name}` holds +@all without -@admin and -@dangerous (CONFIG, FLUSHALL, SHUTDOWN)")
    for probe in PROBES:
        if known(values, probe, "enabled") is False:
            continue
        command = " ".join(str(part) for part in items(known(values, probe, "customProbe", "exec", "command")))
        if "--user" not in command:
            problems.append(f"{probe} does not log in (the chart's own probe sends PING as no one)")
    return problems


def _validate_valkey(args, report_violation) -> None:
    if args.resource_type != RELEASE or known(args.props, "chart") != VALKEY_CHART:
        return
    problems = _valkey_problems(known(args.props, "values"))
    if problems:
        name = known(args.props, "name")
        report_violation(f"Release '{name if isinstance(name, str) else args.name}' (chart valkey): "
                         f"{'; '.join(problems)}. Give each client a named user (components/presentation/cache.py).")


require_valkey_users = resource_policy(
    "kubernetes-valkey-require-named-users",
    "DP-ID-007",
    "Valkey's default user is off, no user holds admin or dangerous commands, and the probes log in",
    "A `helm.v3.Release` of the `valkey` chart sets `auth.enabled`, ends the `default` user's permissions with "
    "`off`, gives no enabled user `+@all`/`allcommands` without `-@admin` and `-@dangerous`, and replaces every "
    "enabled probe by a `customProbe` whose command logs in (`--user`).",
    Severity.HIGH,
    ["access"],
    "Switch the default user off, give Superset its own user without @admin and @dangerous, and probe as a "
    "ping-only user.",
    _validate_valkey,
)


POLICIES = [
    require_managed_master_password,
    require_log_group_key,
    require_key_use_conditions,
    require_service_source,
    disallow_object_versions,
    require_append_only_audit,
    require_login_defaults,
    require_valkey_users,
]
