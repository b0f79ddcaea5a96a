"""Who may reach the data, and whether it survives a mistake: key policies, bucket wildcards in identity policies,
PostgreSQL role attributes and PUBLIC grants, Superset's analyst, Elasticsearch's built-in roles, open ingress, and
`protect` on the data stores the buckets' and keys' policy does not cover. Each closes a gap the security mutation
suite (infra/offline/security_mutants) found."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import Severity

from .common import (
    MIN_AUDIT_DAYS,
    UNKNOWN,
    as_list,
    items,
    known,
    number,
    policy_statements,
    resource_policy,
    setting,
    truthy,
    wildcard_principal,
)

KMS_KEY = "aws:kms/key:Key"
KMS_KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
IDENTITY_DOCUMENTS = (
    "aws:iam/policy:Policy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/groupPolicy:GroupPolicy",
    "minio:index/iamPolicy:IamPolicy",
)
PG_ROLE = "postgresql:index/role:Role"
PG_GRANT = "postgresql:index/grant:Grant"
SUPERSET_ROLE = "pulumi-python:dynamic/superset:Role"
ES_USER = "pulumi-python:dynamic/elasticsearch:User"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
# Data stores whose loss is not undone by re-running the program (buckets and keys: DP-AWS-001).
DATA_STORES = {
    "aws:rds/instance:Instance": "RDS instance",
    "postgresql:index/database:Database": "PostgreSQL database",
    "kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch": "Elasticsearch cluster",
    LOG_GROUP: "CloudWatch log group",
}
MIN_KMS_DELETION_WINDOW = 30
ANY_ADDRESS = ("0.0.0.0/0", "::/0")


# ---- KMS ---------------------------------------------------------------------------------------------------------


def _validate_key_policy(args, report_violation) -> None:
    if args.resource_type != KMS_KEY_POLICY:
        return
    statements = policy_statements(known(args.props, "policy"))
    if statements is None:
        report_violation(f"Key policy '{args.name}' is not a JSON document known at preview; render it from literal "
                         "ARNs so it can be reviewed.")
        return
    for statement in statements:
        if wildcard_principal(statement):
            sid = statement.get("Sid") or "(no Sid)"
            report_violation(f"Key policy '{args.name}' statement {sid} allows any AWS principal; name the roles and "
                             "users that need the key instead of `*`.")


disallow_public_key_policy = resource_policy(
    "aws-kms-key-policy-disallow-public-principal",
    "DP-KMS-002",
    "KMS key policies name the principals that may use the key",
    "No `aws:kms/keyPolicy:KeyPolicy` has an `Allow` statement with principal `*`, `{\"AWS\": \"*\"}` (alone or in "
    "a list) or a `NotPrincipal`; AWS service principals (`{\"Service\": ...}`) are allowed. The document must be "
    "known at preview.",
    Severity.CRITICAL,
    ["access", "encryption"],
    "Name the IAM roles and users that need the key in its policy instead of a wildcard principal.",
    _validate_key_policy,
)


def _validate_deletion_window(args, report_violation) -> None:
    if args.resource_type != KMS_KEY:
        return
    days = number(known(args.props, "deletionWindowInDays"))
    minimum = setting(args, "minDays", MIN_KMS_DELETION_WINDOW)
    if days is not None and days < minimum:
        report_violation(f"KMS key '{args.name}' can be deleted {days} days after it is scheduled for deletion; set "
                         f"deletionWindowInDays to at least {minimum} (AWS's maximum and default is 30).")


configure_deletion_window = resource_policy(
    "aws-kms-key-configure-deletion-window",
    "DP-KMS-003",
    "KMS keys wait the longest window before deletion",
    "Every `aws:kms/key:Key` leaves `deletionWindowInDays` unset (AWS's default, 30) or sets at least `minDays` (30): "
    "a key scheduled for deletion by mistake can be recovered until the window ends, and every object it encrypts "
    "is lost after.",
    Severity.HIGH,
    ["encryption", "retention"],
    "Set deletionWindowInDays to 30 on the key, or leave it unset.",
    _validate_deletion_window,
    config={"minDays": {"type": "integer", "default": MIN_KMS_DELETION_WINDOW}},
)


# ---- identity policies: bucket wildcards --------------------------------------------------------------------------


def _wildcard_bucket(resource: Any) -> bool:
    """An S3 ARN whose bucket part has a wildcard (`arn:aws:s3:::*`, `arn:aws:s3:::dataplatform-*/x`)."""
    if not isinstance(resource, str) or not resource.startswith("arn:aws:s3:::"):
        return False
    bucket = resource.removeprefix("arn:aws:s3:::").split("/", 1)[0]
    return "*" in bucket or "?" in bucket


def _validate_bucket_wildcards(args, report_violation) -> None:
    if args.resource_type not in IDENTITY_DOCUMENTS:
        return
    statements = policy_statements(known(args.props, "policy")) or []
    wide = sorted({resource for statement in statements if statement.get("Effect") == "Allow"
                   for resource in as_list(statement.get("Resource")) if _wildcard_bucket(resource)})
    if wide:
        report_violation(f"Identity policy '{args.name}' grants access to buckets by wildcard ({', '.join(wide)}); "
                         "name the buckets the identity needs.")


disallow_wildcard_buckets = resource_policy(
    "aws-iam-policy-disallow-wildcard-buckets",
    "DP-IAM-002",
    "Identity policies name the buckets they grant",
    "No IAM or MinIO identity policy has an `Allow` statement whose resource is an S3 ARN with a wildcard in the "
    "bucket name (`arn:aws:s3:::*`, `arn:aws:s3:::dataplatform-*`): that reaches every bucket of the account, "
    "including those of other stacks and the audit buckets. Object wildcards inside a named bucket are fine.",
    Severity.HIGH,
    ["access"],
    "Name each bucket the identity needs in the statement's Resource.",
    _validate_bucket_wildcards,
)


# ---- PostgreSQL ------------------------------------------------------------------------------------------------------

PRIVILEGED_ATTRIBUTES = {
    "createRole": "CREATEROLE",
    "createDatabase": "CREATEDB",
    "replication": "REPLICATION",
    "bypassRowLevelSecurity": "BYPASSRLS",
}


def _validate_role_attributes(args, report_violation) -> None:
    if args.resource_type != PG_ROLE:
        return
    held = [label for key, label in PRIVILEGED_ATTRIBUTES.items() if truthy(known(args.props, key))]
    if held:
        role = known(args.props, "name") or args.name
        report_violation(f"PostgreSQL role '{role}' has {', '.join(held)}; set "
                         f"{', '.join(key for key, label in PRIVILEGED_ATTRIBUTES.items() if label in held)} to false: "
                         "only the bootstrap admin administers roles, databases and replication.")


disallow_privileged_attributes = resource_policy(
    "postgresql-role-disallow-privileged-attributes",
    "DP-PG-005",
    "PostgreSQL roles hold no administrative attributes",
    "No `postgresql:index/role:Role` sets `createRole` (CREATEROLE), `createDatabase` (CREATEDB), `replication` "
    "(REPLICATION) or `bypassRowLevelSecurity` (BYPASSRLS): each lets a service or person step around the grants.",
    Severity.HIGH,
    ["access"],
    "Set createRole, createDatabase, replication and bypassRowLevelSecurity to false on the role.",
    _validate_role_attributes,
)


def _validate_public_grants(args, report_violation) -> None:
    if args.resource_type != PG_GRANT or str(known(args.props, "role") or "").lower() != "public":
        return
    privileges = [privilege for privilege in items(known(args.props, "privileges")) if isinstance(privilege, str)]
    if privileges:
        target = known(args.props, "schema") or known(args.props, "database")
        report_violation(f"PostgreSQL grant '{args.name}' gives PUBLIC (every role) {', '.join(privileges)} on "
                         f"{known(args.props, 'objectType')} {target}; grant it to the catalog role that needs it.")


disallow_public_grants = resource_policy(
    "postgresql-grant-disallow-public",
    "DP-PG-006",
    "PostgreSQL grants nothing to PUBLIC",
    "Every `postgresql:index/grant:Grant` to role `public` has no privileges (it is a revoke): a privilege granted "
    "to PUBLIC reaches every role of the server, present and future.",
    Severity.HIGH,
    ["access"],
    "Grant the privilege to the catalog role that needs it and keep PUBLIC's privileges empty.",
    _validate_public_grants,
)


# ---- Superset and Elasticsearch ------------------------------------------------------------------------------------

# Superset permissions that write, reach every database or run arbitrary SQL (superset/security/manager.py's
# ADMIN_ONLY and ALPHA_ONLY sets, and SQL Lab's own).
ANALYST_FORBIDDEN = re.compile(r"^(can_write|can_delete|can_add|can_edit|can_import_|can_export|all_database_access|"
                               r"all_datasource_access|all_query_access|can_execute_sql_query|can_sqllab.*|"
                               r"can_sql_json|can_csv_upload|can_grant_guest_token)$")


def _pair(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2


def _validate_analyst_role(args, report_violation) -> None:
    if args.resource_type != SUPERSET_ROLE:
        return
    name = known(args.props, "name")
    if name not in setting(args, "readOnlyRoles", ["analyst"]):
        return
    found = sorted({f"{permission[0]} on {permission[1]}" for permission in items(known(args.props, "permissions"))
                    if _pair(permission) and isinstance(permission[0], str)
                    and ANALYST_FORBIDDEN.match(permission[0])})
    if found:
        report_violation(f"Superset role '{name}' is read-only but holds {'; '.join(found)}; remove those permissions "
                         "(give writers a role of their own).")


require_read_only_analyst = resource_policy(
    "superset-role-require-read-only-analyst",
    "DP-SS-006",
    "Superset's analyst role only reads",
    "The Superset `Role` named in `readOnlyRoles` (the catalog's `analyst`) holds no permission that writes "
    "(`can_write`, `can_delete`, `can_add`, `can_edit`, imports and exports), reaches every database or dataset "
    "(`all_database_access`, `all_datasource_access`, `all_query_access`) or runs arbitrary SQL (SQL Lab).",
    Severity.HIGH,
    ["access"],
    "Remove the write, all-access and SQL Lab permissions from the analyst role.",
    _validate_analyst_role,
    config={"readOnlyRoles": {"type": "array", "items": {"type": "string"}, "default": ["analyst"]}},
)

# Elasticsearch's built-in roles that administer the cluster, its security or every index
# (elastic/elasticsearch: x-pack/plugin/core/.../ReservedRolesStore.java).
BUILTIN_ADMIN_ROLES = ("superuser", "kibana_admin", "kibana_system", "logstash_system", "beats_admin",
                       "machine_learning_admin", "transform_admin", "snapshot_user", "ingest_admin",
                       "enrich_user", "rollup_admin", "watcher_admin", "editor", "viewer")


def _validate_builtin_roles(args, report_violation) -> None:
    if args.resource_type != ES_USER:
        return
    held = [role for role in items(known(args.props, "roles")) if role in BUILTIN_ADMIN_ROLES]
    if held:
        report_violation(f"Elasticsearch user '{known(args.props, 'name') or args.name}' holds the built-in role "
                         f"{', '.join(held)}; give it only the platform's own least-privilege roles.")


disallow_builtin_admin_roles = resource_policy(
    "elasticsearch-user-disallow-builtin-admin-roles",
    "DP-ES-007",
    "Elasticsearch users hold only the platform's own roles",
    "No Elasticsearch `User` the platform declares holds a built-in role that administers the cluster or its "
    "security or reads every index (`superuser`, `kibana_admin`, `kibana_system`, `editor`, `viewer`, ...).",
    Severity.CRITICAL,
    ["access"],
    "Replace the built-in role with one of the platform's own roles that grants only what the user needs.",
    _validate_builtin_roles,
)


# ---- NetworkPolicies ---------------------------------------------------------------------------------------------


def _open_peer(peer: Any) -> bool:
    """A peer that admits every source: empty, or an ipBlock of every address without exceptions."""
    if not isinstance(peer, Mapping) or not list(iter(peer)):
        return True
    block = known(peer, "ipBlock")
    return isinstance(block, Mapping) and known(block, "cidr") in ANY_ADDRESS and not items(known(block, "except"))


def _validate_open_ingress(args, report_violation) -> None:
    if args.resource_type != NETWORK_POLICY:
        return
    for index, rule in enumerate(items(known(args.props, "spec", "ingress"))):
        if rule is UNKNOWN or not isinstance(rule, Mapping):
            continue
        peers = known(rule, "from")
        if not items(peers) or any(_open_peer(peer) for peer in items(peers)):
            name = known(args.props, "metadata", "name") or args.name
            report_violation(f"NetworkPolicy '{name}' ingress rule {index} admits every source; name the pods, "
                             "namespaces or address ranges that may connect.")


disallow_open_ingress = resource_policy(
    "kubernetes-network-policy-disallow-open-ingress",
    "DP-K8S-012",
    "NetworkPolicies admit named sources only",
    "No `NetworkPolicy` has an ingress rule without `from`, with an empty peer, or with an `ipBlock` of "
    "`0.0.0.0/0` or `::/0` and no exceptions: such a rule undoes the namespace's default deny for the pods it selects. "
    "The program's flow tables name every source (components/*/flows.py).",
    Severity.HIGH,
    ["kubernetes", "access"],
    "List the pods, namespaces or address ranges that may connect in the rule's from.",
    _validate_open_ingress,
)


def _every_port(ports: Any) -> str:
    """How a rule's `ports` admit every port ('' when they name one): absent or empty, or an entry with no port."""
    if not items(ports):
        return "no ports"
    for entry in items(ports):
        if isinstance(entry, Mapping) and known(entry, "port") is None:
            return f"a {known(entry, 'protocol') or 'TCP'} entry with no port"
    return ""


def _any_address(peers: Any) -> str:
    """How a rule's `to` reaches every address ('' when it does not): absent, an empty peer, or an ipBlock of every
    address without exceptions."""
    if not items(peers):
        return "no to"
    for peer in items(peers):
        if _open_peer(peer):
            cidr = known(peer, "ipBlock", "cidr")
            return f"to {cidr}" if isinstance(cidr, str) else "an empty peer in to"
    return ""


def _validate_open_egress(args, report_violation) -> None:
    if args.resource_type != NETWORK_POLICY:
        return
    for index, rule in enumerate(items(known(args.props, "spec", "egress"))):
        if rule is UNKNOWN or not isinstance(rule, Mapping):
            continue
        anywhere, every_port = _any_address(known(rule, "to")), _every_port(known(rule, "ports"))
        if anywhere and every_port:
            name = known(args.props, "metadata", "name") or args.name
            report_violation(f"NetworkPolicy '{name}' egress rule {index} lets its pods reach any address on every "
                             f"port ({anywhere}, {every_port}); list the ports in the rule's ports, or the address "
                             "ranges in its to (the stack config's CIDR keys give the program's flows theirs).")


disallow_open_egress = resource_policy(
    "kubernetes-network-policy-disallow-open-egress",
    "DP-K8S-013",
    "NetworkPolicies name the ports of egress to any address",
    "No `NetworkPolicy` has an egress rule that reaches every address (no `to`, an empty peer, or an `ipBlock` of "
    "`0.0.0.0/0` or `::/0` and no exceptions) on every port (no `ports`, or an entry without `port`): such a rule "
    "undoes the namespace's default deny for everything the pods send out. The program's flow tables give every "
    "egress rule its ports (components/*/flows.py); an address range the stack config sets to any address "
    "(`kubernetes.network.endpoints.*`) is still reached on the endpoint's ports only.",
    Severity.HIGH,
    ["kubernetes", "access"],
    "List the ports the pods need in the rule's ports, or the address ranges in its to.",
    _validate_open_egress,
    exemptable=True,
)


# ---- protect and audit retention ------------------------------------------------------------------------------------


def _validate_protect(args, report_violation) -> None:
    kind = DATA_STORES.get(args.resource_type)
    if kind and not args.opts.protect:
        report_violation(f"{kind} '{args.name}' is not protected; set protect=True on it (the stack's `protect`).")


require_protect = resource_policy(
    "platform-data-require-protect",
    "DP-DATA-001",
    "Data stores are protected from deletion",
    "Every RDS instance, PostgreSQL database, ECK `Elasticsearch` and CloudWatch log group has the `protect` option "
    "(buckets and keys: DP-AWS-001), so `pulumi destroy` or a replacement cannot delete the data in it. Disabled in "
    "dev, where the stack's `protect` is off.",
    Severity.HIGH,
    ["retention"],
    "Set protect=True on the resource (the stack config's `protect`).",
    _validate_protect,
)


def _validate_log_group_retention(args, report_violation) -> None:
    if args.resource_type != LOG_GROUP:
        return
    days = number(known(args.props, "retentionInDays"))
    minimum = setting(args, "minDays", MIN_AUDIT_DAYS)
    if days is not None and 0 < days < minimum:
        report_violation(f"CloudWatch log group '{known(args.props, 'name') or args.name}' keeps its events {days} "
                         f"days; set retentionInDays to at least {minimum} (or 0 to keep them).")


configure_log_group_retention = resource_policy(
    "aws-cloudwatch-log-group-configure-audit-retention",
    "DP-CW-001",
    "CloudWatch log groups keep the audit trail long enough",
    "Every `aws:cloudwatch/logGroup:LogGroup` (the program's are RDS's PostgreSQL log, where pgaudit writes) keeps "
    "events at least `minDays` (90) or forever (`retentionInDays` unset or 0).",
    Severity.HIGH,
    ["audit", "retention"],
    "Set retentionInDays on the log group to at least the audit minimum.",
    _validate_log_group_retention,
    config={"minDays": {"type": "integer", "default": MIN_AUDIT_DAYS}},
)


POLICIES = [
    disallow_public_key_policy,
    configure_deletion_window,
    disallow_wildcard_buckets,
    disallow_privileged_attributes,
    disallow_public_grants,
    require_read_only_analyst,
    disallow_builtin_admin_roles,
    disallow_open_ingress,
    disallow_open_egress,
    require_protect,
    configure_log_group_retention,
]
