"""Access tied to the catalog: a grant the role-to-layer matrix does not imply is a violation, on the object store
(IAM and MinIO identity policies), PostgreSQL, Superset and Elasticsearch (Dremio's grants: policies/lakehouse.py,
DP-DRM-004), and no key, bucket or role trust policy names a principal of an AWS account other than the stack's.

The matrix is data in each policy's settings, written from the catalog (infra/dataflow.yaml) into
`policies/config/<stack>.json` by `make policy-config` (a drift test fails when it differs); the file is the security
team's, so widening access changes a file they review. A policy whose matrix setting is absent judges nothing (the
pack run without the stack's config). "Implied" means: the same principal, the same or a narrower object, and
privileges the matrix lists for that object; a grant written differently (split statements, another order, another
case of an IAM action, a narrower prefix or table) is implied.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from .common import UNKNOWN, as_list, items, known, policy_statements, resource_policy, setting

IDENTITY_PRINCIPAL = {
    "aws:iam/userPolicy:UserPolicy": "user",
    "aws:iam/rolePolicy:RolePolicy": "role",
    "aws:iam/groupPolicy:GroupPolicy": "group",
    "aws:iam/policy:Policy": "name",
    "minio:index/iamPolicy:IamPolicy": "name",
}
PG_GRANT = "postgresql:index/grant:Grant"
PG_DEFAULT_PRIVILEGES = "postgresql:index/defaultPrivileges:DefaultPrivileges"
PG_ROLE = "postgresql:index/role:Role"
PG_GRANT_ROLE = "postgresql:index/grantRole:GrantRole"
SUPERSET_ROLE = "pulumi-python:dynamic/superset:Role"
ES_ROLE = "pulumi-python:dynamic/elasticsearch:Role"
ES_USER = "pulumi-python:dynamic/elasticsearch:User"
KMS_KEY = "aws:kms/key:Key"
KMS_KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
IAM_ROLE = "aws:iam/role:Role"
MATRIX_SOURCE = "the catalog's role-to-layer matrix (policies/config/<stack>.json, written by `make policy-config`)"


def _matches(value: str, pattern: str) -> bool:
    """Whether `pattern` covers `value` as written: `*` any run of characters, `?` one; nothing else is special
    (Superset's view names hold brackets)."""
    expression = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.fullmatch(expression, value, re.DOTALL) is not None


def _matrix(args: Any, key: str) -> Mapping[str, Any] | None:
    value = setting(args, key, None)
    return value if isinstance(value, Mapping) else None


def _listing(pairs: list[str], limit: int = 6) -> str:
    shown = ", ".join(pairs[:limit])
    return shown + (f" and {len(pairs) - limit} more" if len(pairs) > limit else "")


# ---- object store: IAM and MinIO identity policies ----------------------------------------------------------------


def _s3_action(action: Any) -> bool:
    """An action that is, or may cover, an S3 action (`s3:GetObject`, `s3:*`, `*`)."""
    if not isinstance(action, str):
        return False
    service = action.split(":", 1)[0] if ":" in action else action
    return _matches("s3", service.lower())


# Actions that take no resource narrower than `*` and read no object (AWS's Service Authorization Reference,
# "Resource types" column empty; policies/storage_aws.py's UNSCOPED_ACTIONS): no layer of the matrix is reached.
UNSCOPED_ACTIONS = frozenset({"s3:listallmybuckets"})


def _implied_s3(grants: Mapping[str, Any], action: str, resource: Any) -> bool:
    """An (action, resource) pair some matrix entry covers: the action listed there (IAM actions ignore case, and a
    wildcard action is never implied) and the resource the entry's ARN pattern matches as written."""
    if not isinstance(resource, str) or any(char in action for char in "*?"):
        return False
    wanted = action.lower()
    if wanted in UNSCOPED_ACTIONS and resource == "*":
        return True
    return any(_matches(resource, pattern) and wanted in {str(listed).lower() for listed in items(actions)}
               for pattern, actions in grants.items())


def _values_covered(values: Any, recorded: Any) -> bool:
    """Every value a statement's condition lists is one the recorded condition's patterns cover (a narrower
    `s3:prefix` is covered); an empty or unknown list covers nothing."""
    listed = [value for value in as_list(values) if isinstance(value, str)]
    patterns = [str(pattern) for pattern in as_list(recorded)]
    return bool(listed) and len(listed) == len(as_list(values)) and all(
        any(_matches(value, pattern) for pattern in patterns) for value in listed)


def _missing_conditions(statement: Mapping[str, Any], recorded: Mapping[str, Any]) -> list[str]:
    """The recorded `operator key values` the statement's Condition lacks or widens: it must hold the same operator
    (or `StringEquals` where `StringLike` is recorded) on the same key (in any case) with values the recorded
    patterns cover. An `...IfExists` operator does not count: it lets a request without the key through."""
    condition = statement.get("Condition")
    condition = condition if isinstance(condition, Mapping) else {}
    missing = []
    for operator, keys in recorded.items():
        accepted = (operator, "StringEquals") if operator == "StringLike" else (operator,)
        for key, values in (keys.items() if isinstance(keys, Mapping) else ()):
            held = [block for name, block in condition.items() if name in accepted and isinstance(block, Mapping)]
            if not any(_values_covered(found, values) for block in held for name, found in block.items()
                       if isinstance(name, str) and name.lower() == str(key).lower()):
                missing.append(f"{operator} {key} {', '.join(str(value) for value in as_list(values))}")
    return missing


def _unconditioned(conditions: Mapping[str, Any], statement: Mapping[str, Any], action: str,
                   resource: Any) -> list[str]:
    """`action on resource without <condition>` for each condition the matrix records for a grant this statement
    makes (the statement's resource matched by the recorded ARN, the action by name ignoring case) and lacks."""
    if not isinstance(resource, str):
        return []
    problems = []
    for pattern, actions in conditions.items():
        if not isinstance(actions, Mapping) or not _matches(resource, pattern):
            continue
        for listed, recorded in actions.items():
            if str(listed).lower() == action.lower() and isinstance(recorded, Mapping):
                problems += [f"{action} on {resource} without the condition {missing}"
                             for missing in _missing_conditions(statement, recorded)]
    return problems


def _validate_iam(args, report_violation) -> None:
    key = IDENTITY_PRINCIPAL.get(args.resource_type)
    if key is None:
        return
    principals = _matrix(args, "principals")
    if principals is None:
        return
    principal = known(args.props, key)
    statements = policy_statements(known(args.props, "policy"))
    if principal is UNKNOWN or statements is None:
        return
    allowed = [statement for statement in statements if statement.get("Effect") == "Allow"]
    if not isinstance(principal, str) or principal not in principals:
        if any(_s3_action(action) for statement in allowed
               for action in as_list(statement.get("Action", statement.get("NotAction")))):
            report_violation(f"Identity policy '{args.name}' gives S3 access to '{principal}', an identity "
                             f"{MATRIX_SOURCE} does not list; derive identities from the catalog's roles "
                             "(components/storage/access.py) or add the role to the catalog.")
        return
    grants = principals[principal]
    conditions = _matrix(args, "conditions") or {}
    recorded = conditions.get(principal) if isinstance(conditions.get(principal), Mapping) else {}
    extra = []
    for statement in allowed:
        sid = statement.get("Sid") or "(no Sid)"
        if "NotAction" in statement or "NotResource" in statement:
            extra.append(f"{sid}: NotAction/NotResource")
            continue
        for action in as_list(statement.get("Action")):
            if not _s3_action(action):
                continue
            for resource in as_list(statement.get("Resource")):
                if not _implied_s3(grants, action, resource):
                    extra.append(f"{action} on {resource}")
                else:
                    extra += _unconditioned(recorded, statement, action, resource)
    if extra:
        report_violation(f"Identity policy '{args.name}' of '{principal}' allows {_listing(sorted(set(extra)))}, "
                         f"which {MATRIX_SOURCE} does not imply; grant only the layers the identity's catalog role "
                         "reads and writes.")


require_iam_catalog_access = resource_policy(
    "aws-iam-policy-require-catalog-access",
    "DP-RM-001",
    "Identity policies grant only what the catalog's roles imply",
    "Every IAM user, role, group or managed policy and every MinIO policy allows S3 actions only on the bucket and "
    "object ARNs the role-to-layer matrix (`principals`: identity name -> ARN -> actions) lists for its identity: "
    "a wildcard action, `NotAction`/`NotResource`, another bucket, another layer or a write where the catalog "
    "gives read is a violation; a narrower prefix, split statements or another case of an action are not, nor is "
    "an action that takes no resource and reads no object (`s3:ListAllMyBuckets` on `*`). "
    "Where the matrix records a condition for a grant (`conditions`: identity -> ARN -> action -> operator -> key "
    "-> values, today the `s3:prefix` of a prefix writer's `s3:ListBucket`), every statement allowing it must carry "
    "that condition with values the recorded ones cover (a narrower prefix, or `StringEquals` for `StringLike`); "
    "other conditions only narrow an Allow and are not judged. Identities the matrix does not list may hold no S3 "
    "action.",
    Severity.HIGH,
    ["access"],
    "Change the catalog's roles (infra/dataflow.yaml) and run `make policy-config`, instead of widening one "
    "identity's policy.",
    _validate_iam,
    config={"principals": {"type": "object",
                           "description": "Identity name -> S3 resource ARN -> the actions allowed there"},
            "conditions": {"type": "object",
                           "description": "Identity name -> S3 resource ARN -> action -> the condition its grant "
                                          "carries (operator -> key -> values)"}},
)


# ---- PostgreSQL ------------------------------------------------------------------------------------------------


def _pg_targets(args: Any) -> list[str] | None:
    """The objects a Grant or DefaultPrivileges names, in the matrix's keys; None when not known at preview."""
    database = known(args.props, "database")
    schema = known(args.props, "schema")
    kind = known(args.props, "objectType")
    if UNKNOWN in (database, schema, kind):
        return None
    if args.resource_type == PG_DEFAULT_PRIVILEGES:
        owner = known(args.props, "owner")
        return None if owner is UNKNOWN else [f"default/{database}/{schema}/{owner}"]
    if kind == "database":
        return [f"database/{database}"]
    if kind == "schema":
        return [f"schema/{database}/{schema}"]
    objects = [item for item in items(known(args.props, "objects")) if isinstance(item, str)]
    return [f"{kind}/{database}/{schema}/{name}" for name in objects] or [f"{kind}/{database}/{schema}/*"]


def _memberships(args: Any) -> tuple[Any, list[str], bool] | None:
    """(member, the groups it is made a member of, with the admin option) of a Role's `roles` or a GrantRole; None
    when not known at preview."""
    if args.resource_type == PG_ROLE:
        member, groups, admin = known(args.props, "name"), known(args.props, "roles"), False
    else:
        member, groups = known(args.props, "role"), [known(args.props, "grantRole")]
        admin = truthy_grant_option(args, "withAdminOption")
    if member is UNKNOWN or groups is UNKNOWN:
        return None
    return member, sorted({str(group) for group in items(groups) if group is not UNKNOWN and group is not None}), admin


def _validate_pg_membership(args, report_violation) -> None:
    memberships = _matrix(args, "memberships")
    found = _memberships(args) if memberships is not None else None
    if found is None:
        return
    member, groups, admin = found
    listed = memberships.get(member) if isinstance(member, str) else None
    allowed = {str(group) for group in items(listed)}
    extra = [group for group in groups if group not in allowed]
    problems = [f"membership in {', '.join(extra)}"] if extra else []
    if admin:
        problems.append("WITH ADMIN OPTION")
    if problems:
        who = f"role '{member}'" if listed is not None else f"role '{member}' (a role the matrix does not list)"
        report_violation(f"PostgreSQL role '{args.name}' gives {who} {'; '.join(problems)}, which {MATRIX_SOURCE} "
                         "does not imply (a member holds every privilege of its groups); make a login a member of "
                         "its service's catalog role only (components/metadata/access.py).")


def _validate_pg(args, report_violation) -> None:
    if args.resource_type in (PG_ROLE, PG_GRANT_ROLE):
        _validate_pg_membership(args, report_violation)
        return
    if args.resource_type not in (PG_GRANT, PG_DEFAULT_PRIVILEGES):
        return
    roles = _matrix(args, "roles")
    role = known(args.props, "role")
    privileges = sorted({str(item).upper() for item in items(known(args.props, "privileges"))})
    if roles is None or role is UNKNOWN or not privileges:
        return  # an empty list revokes
    targets = _pg_targets(args)
    if targets is None:
        return
    granted = roles.get(role) if isinstance(role, str) else None
    problems = []
    for target in targets:
        parent = target.rsplit("/", 1)[0] + "/*" if target.startswith(("table/", "sequence/")) else target
        allowed = {str(item).upper() for item in items((granted or {}).get(target))} | \
                  {str(item).upper() for item in items((granted or {}).get(parent))}
        extra = [privilege for privilege in privileges if privilege not in allowed]
        if extra:
            problems.append(f"{', '.join(extra)} on {target}")
    if truthy_grant_option(args):
        problems.append("WITH GRANT OPTION")
    if problems:
        who = f"role '{role}'" if granted is not None else f"role '{role}' (a role the matrix does not list)"
        kind = "default privileges" if args.resource_type == PG_DEFAULT_PRIVILEGES else "grant"
        report_violation(f"PostgreSQL {kind} '{args.name}' gives {who} {'; '.join(problems)}, which "
                         f"{MATRIX_SOURCE} does not imply; grant only what the role's catalog layers need "
                         "(components/metadata/access.py).")


def truthy_grant_option(args: Any, key: str = "withGrantOption") -> bool:
    value = known(args.props, key)
    return value is True or (isinstance(value, str) and value.lower() == "true")


require_pg_catalog_access = resource_policy(
    "postgresql-grant-require-catalog-access",
    "DP-RM-002",
    "PostgreSQL grants only what the catalog's roles imply",
    "Every `postgresql:index/grant:Grant` and `DefaultPrivileges` with privileges gives its role only privileges the "
    "role-to-layer matrix (`roles`: role -> `database/<db>`, `schema/<db>/<schema>`, `table/<db>/<schema>/*` or "
    "`/<table>`, `default/<db>/<schema>/<owner>` -> privileges) lists for that object, never `WITH GRANT OPTION`; "
    "a grant on one table is implied by the same privileges on every table of its schema. Revokes (no privileges) "
    "pass; PUBLIC is a role the matrix never lists. Every membership, a `postgresql:index/role:Role`'s `roles` or "
    "a `postgresql:index/grantRole:GrantRole`, is one the matrix lists (`memberships`: role -> the groups it may "
    "belong to, in any order), never `WITH ADMIN OPTION`: a member holds all its groups' privileges.",
    Severity.HIGH,
    ["access"],
    "Change the catalog's roles (infra/dataflow.yaml) and run `make policy-config`, instead of widening a grant.",
    _validate_pg,
    config={"roles": {"type": "object",
                      "description": "PostgreSQL role -> object -> the privileges allowed on it"},
            "memberships": {"type": "object",
                            "description": "PostgreSQL role -> the group roles it may be a member of"}},
)


# ---- Superset --------------------------------------------------------------------------------------------------


def _pairs(value: Any) -> list[tuple[str, str]]:
    """`[permission, view]` pairs of strings (lists arrive as any sequence)."""
    found = []
    for item in items(value):
        pair = items(item)
        if len(pair) == 2 and all(isinstance(part, str) for part in pair):
            found.append((pair[0], pair[1]))
    return found


def _validate_superset(args, report_violation) -> None:
    if args.resource_type != SUPERSET_ROLE:
        return
    roles = _matrix(args, "roles")
    name = known(args.props, "name")
    if roles is None or name is UNKNOWN:
        return
    if name not in roles:
        report_violation(f"Superset role '{name}' is not one {MATRIX_SOURCE} lists; declare Superset roles from "
                         "the catalog (components/presentation/spec.py).")
        return
    allowed = _pairs(roles.get(name))
    extra = sorted({f"{permission} on {view}" for permission, view in _pairs(known(args.props, "permissions"))
                    if not any(permission == listed and _matches(view, pattern) for listed, pattern in allowed)})
    if extra:
        report_violation(f"Superset role '{name}' holds {_listing(extra)}, which {MATRIX_SOURCE} does not imply; "
                         "remove them (a role that needs more is a change to the catalog).")


require_superset_catalog_access = resource_policy(
    "superset-role-require-catalog-access",
    "DP-RM-003",
    "Superset roles hold only the permissions the catalog implies",
    "Every Superset `Role` the platform declares is one the role-to-layer matrix lists (`roles`: role -> "
    "`[permission, view]` pairs, a view may be a pattern such as `[dremio].*`) and holds only those pairs, in any "
    "order.",
    Severity.HIGH,
    ["access"],
    "Remove the permissions the matrix does not list, or change the catalog and run `make policy-config`.",
    _validate_superset,
    config={"roles": {"type": "object",
                      "description": "Superset role -> the [permission, view] pairs it may hold"}},
)


# ---- Elasticsearch ---------------------------------------------------------------------------------------------


def _covered(pattern: str, allowed: Mapping[str, Any], privileges: list[str]) -> list[str]:
    """The privileges on index pattern `pattern` no matrix pattern that covers it lists."""
    granted: set[str] = set()
    for listed, listed_privileges in allowed.items():
        if _matches(pattern, listed):
            granted |= {str(item) for item in items(listed_privileges)}
    return [privilege for privilege in privileges if privilege not in granted]


def _validate_es_role(args, report_violation) -> None:
    roles = _matrix(args, "roles")
    name = known(args.props, "name")
    if roles is None or name is UNKNOWN:
        return
    if name not in roles:
        report_violation(f"Elasticsearch role '{name}' is not one {MATRIX_SOURCE} lists; declare roles from the "
                         "catalog's log layer (components/logs/spec.py).")
        return
    allowed = roles[name]
    body = known(args.props, "role")
    problems = []
    cluster = sorted(str(item) for item in items(known(body, "cluster"))
                     if str(item) not in {str(listed) for listed in items(known(allowed, "cluster"))})
    if cluster:
        problems.append(f"cluster {', '.join(cluster)}")
    indices = known(allowed, "indices") or {}
    for entry in items(known(body, "indices")):
        if not isinstance(entry, Mapping):
            continue
        privileges = sorted(str(item) for item in items(known(entry, "privileges")))
        if known(entry, "allow_restricted_indices") is True:
            problems.append("allow_restricted_indices")
        for pattern in items(known(entry, "names")):
            extra = _covered(str(pattern), indices if isinstance(indices, Mapping) else {}, privileges)
            if extra:
                problems.append(f"{', '.join(extra)} on {pattern}")
    for key in ("run_as", "applications"):
        if items(known(body, key)):
            problems.append(key)
    if problems:
        report_violation(f"Elasticsearch role '{name}' grants {'; '.join(problems)}, which {MATRIX_SOURCE} does not "
                         "imply; remove them (a role that needs more is a change to the catalog).")


def _validate_es_user(args, report_violation) -> None:
    users = _matrix(args, "users")
    name = known(args.props, "name")
    if users is None or name is UNKNOWN:
        return
    allowed = {str(item) for item in items(users.get(name))}
    extra = sorted(str(role) for role in items(known(args.props, "roles")) if str(role) not in allowed)
    if name not in users:
        report_violation(f"Elasticsearch user '{name}' is not one {MATRIX_SOURCE} lists.")
    elif extra:
        report_violation(f"Elasticsearch user '{name}' holds the role(s) {', '.join(extra)}, which {MATRIX_SOURCE} "
                         "does not give it; remove them.")


def _validate_es(args, report_violation) -> None:
    if args.resource_type == ES_ROLE:
        _validate_es_role(args, report_violation)
    elif args.resource_type == ES_USER:
        _validate_es_user(args, report_violation)


require_es_catalog_access = resource_policy(
    "elasticsearch-role-require-catalog-access",
    "DP-RM-004",
    "Elasticsearch roles and users hold only what the catalog implies",
    "Every Elasticsearch `Role` the platform declares is one the role-to-layer matrix lists (`roles`: role -> "
    "`cluster` privileges and `indices`: index pattern -> privileges) and grants nothing beyond it: no other "
    "cluster privilege, no privilege on an index pattern no listed pattern covers (a narrower pattern is covered), "
    "no restricted indices, `run_as` or application privileges; every `User` holds only its listed roles "
    "(`users`).",
    Severity.HIGH,
    ["access"],
    "Remove what the matrix does not list, or change the log layer's roles and run `make policy-config`.",
    _validate_es,
    config={"roles": {"type": "object",
                      "description": "Elasticsearch role -> its cluster privileges and index pattern -> privileges"},
            "users": {"type": "object", "description": "Elasticsearch user -> the roles it holds"}},
)


# ---- foreign AWS accounts ------------------------------------------------------------------------------------------

ACCOUNT = re.compile(r"^(?:arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):.*|(\d{12}))$")


def _accounts(statement: Mapping[str, Any]) -> list[str]:
    """The AWS account ids an Allow statement's `AWS` principals name."""
    if statement.get("Effect") != "Allow":
        return []
    principal = statement.get("Principal")
    if not isinstance(principal, Mapping):
        return []
    found = []
    for value in as_list(principal.get("AWS")):
        match = ACCOUNT.match(value) if isinstance(value, str) else None
        if match:
            found.append(match.group(1) or match.group(2))
    return found


def _foreign(args: Any, document: Any, what: str, report_violation) -> None:
    statements = policy_statements(document)
    if statements is None:
        return
    accounts = {str(item) for item in items(setting(args, "accountIds", []))}
    for statement in statements:
        named = sorted(set(_accounts(statement)))
        if named and not accounts:
            report_violation(f"{what} '{args.name}' names AWS account principals ({', '.join(named)}) but the pack is "
                             "not told the stack's accounts; set `aws.allowedAccountIds` in the stack config and run "
                             "`make policy-config`.")
            return
        foreign = [account for account in named if account not in accounts]
        if foreign:
            sid = statement.get("Sid") or "(no Sid)"
            report_violation(f"{what} '{args.name}' statement {sid} allows principals of AWS account(s) "
                             f"{', '.join(foreign)}, not the stack's ({', '.join(sorted(accounts))}); share through "
                             "the stack's own roles instead of another account's.")


def _validate_foreign_key(args, report_violation) -> None:
    if args.resource_type == KMS_KEY_POLICY:
        _foreign(args, known(args.props, "policy"), "Key policy", report_violation)
    elif args.resource_type == KMS_KEY:
        _foreign(args, known(args.props, "policy"), "KMS key", report_violation)


def _validate_foreign_bucket(args, report_violation) -> None:
    if args.resource_type == BUCKET_POLICY:
        _foreign(args, known(args.props, "policy"), "Bucket policy", report_violation)


def _validate_foreign_trust(args, report_violation) -> None:
    if args.resource_type == IAM_ROLE:
        _foreign(args, known(args.props, "assumeRolePolicy"), "IAM role trust policy", report_violation)


ACCOUNTS_SCHEMA = {"type": "array", "items": {"type": "string"}, "default": [],
                   "description": "The stack's AWS account ids (`aws.allowedAccountIds`)"}

disallow_foreign_key_principals = resource_policy(
    "aws-kms-key-policy-disallow-foreign-principals",
    "DP-ACCT-001",
    "KMS key policies name principals of the stack's own account",
    "No `Allow` statement of an `aws:kms/keyPolicy:KeyPolicy` or a `aws:kms/key:Key`'s `policy` names an `AWS` "
    "principal (an IAM or STS ARN, or a bare account id) of an account outside `accountIds` (the stack config's "
    "`aws.allowedAccountIds`); naming account principals while `accountIds` is empty is a violation too.",
    Severity.CRITICAL,
    ["access", "encryption"],
    "Remove the other account's principal; give access through the stack's own roles.",
    _validate_foreign_key,
    config={"accountIds": ACCOUNTS_SCHEMA},
)

disallow_foreign_bucket_principals = resource_policy(
    "aws-s3-bucket-policy-disallow-foreign-principals",
    "DP-ACCT-002",
    "Bucket policies name principals of the stack's own account",
    "No `Allow` statement of an `aws:s3/bucketPolicy:BucketPolicy` names an `AWS` principal of an account outside "
    "`accountIds` (the stack config's `aws.allowedAccountIds`); service principals are not account principals.",
    Severity.CRITICAL,
    ["access"],
    "Remove the other account's principal; give access through the stack's own roles.",
    _validate_foreign_bucket,
    config={"accountIds": ACCOUNTS_SCHEMA},
)


disallow_foreign_trust_principals = resource_policy(
    "aws-iam-role-trust-disallow-foreign-principals",
    "DP-ACCT-003",
    "IAM roles are assumed from the stack's own account",
    "No `Allow` statement of an `aws:iam/role:Role`'s `assumeRolePolicy` names an `AWS` principal of an account "
    "outside `accountIds` (the stack config's `aws.allowedAccountIds`): another account could assume the role and "
    "hold its access to the lake. Federated (OIDC) and service principals are not account principals.",
    Severity.CRITICAL,
    ["access"],
    "Remove the other account's principal from the trust policy; workloads assume roles through the cluster's OIDC "
    "provider.",
    _validate_foreign_trust,
    config={"accountIds": ACCOUNTS_SCHEMA},
)


POLICIES = [
    require_iam_catalog_access,
    require_pg_catalog_access,
    require_superset_catalog_access,
    require_es_catalog_access,
    disallow_foreign_key_principals,
    disallow_foreign_bucket_principals,
    disallow_foreign_trust_principals,
]
