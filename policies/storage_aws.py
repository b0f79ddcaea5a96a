"""Storage on AWS: S3 buckets, their companion resources, the lake's KMS key and IAM policy documents.

Settings that live on a bucket's companions (encryption, versioning, public access block, ownership, policy,
logging, lifecycle, object lock) are stack policies: each joins every bucket to its companions (see
`common.companions`), so a missing companion is a violation on the bucket. Settings on a resource itself are
resource policies over inputs known at preview.
"""

from __future__ import annotations

import re

from pulumi_policy import Severity

from .common import (
    AUDIT_BUCKET_ROLES,
    AUDIT_BUCKETS_SETTING,
    AWS_BUCKET,
    MIN_AUDIT_DAYS,
    UNKNOWN,
    as_list,
    companions,
    has_key,
    is_audit_bucket,
    items,
    known,
    label,
    number,
    of_type,
    policy_statements,
    resource_policy,
    setting,
    stack_policy,
    tags_of,
    truthy,
    wildcard_grant,
    wildcard_principal,
)
from .exemptions import DATE_SETTING, SETTINGS_SCHEMA, judged_on, parse_date

SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LOGGING = "aws:s3/bucketLogging:BucketLogging"
OBJECT_LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
KMS_KEY = "aws:kms/key:Key"
IAM_DOCUMENTS = (
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/groupPolicy:GroupPolicy",
    "aws:iam/policy:Policy",
)
PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
PUBLIC_ACLS = ("public-read", "public-read-write", "authenticated-read")
KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")
SSE_ALGORITHMS = (*KMS_ALGORITHMS, "AES256")

AUDIT_CONFIG = {
    "auditRoles": {
        "type": "array",
        "items": {"type": "string"},
        "default": AUDIT_BUCKET_ROLES,
        "description": "Bucket roles (the `dataplatform:role` tag) that hold audit trails.",
    },
    "auditBuckets": AUDIT_BUCKETS_SETTING,
    "minDays": {
        "type": "integer",
        "minimum": 1,
        "default": MIN_AUDIT_DAYS,
        "description": "Fewest days an audit bucket keeps its objects.",
    },
}


def _buckets(args):
    return of_type(args.resources, AWS_BUCKET)


def _default_encryption(sse) -> list:
    return [known(rule, "applyServerSideEncryptionByDefault") for rule in items(known(sse.props, "rules"))]


def _validate_encryption(args, report_violation) -> None:
    for bucket in _buckets(args):
        configs = companions(args.resources, bucket, SSE)
        defaults = [by_default for sse in configs for by_default in _default_encryption(sse) if by_default]
        if not any(known(by_default, "sseAlgorithm") in SSE_ALGORITHMS for by_default in defaults):
            report_violation(
                f"Bucket {label(bucket)} has no default server-side encryption; "
                "add a BucketServerSideEncryptionConfiguration with sseAlgorithm aws:kms for it.",
                bucket.urn,
            )


enable_encryption = stack_policy(
    "aws-s3-bucket-enable-encryption",
    "DP-S3-001",
    "S3 buckets encrypt objects at rest by default",
    "Every `aws:s3/bucket:Bucket` has a `BucketServerSideEncryptionConfiguration` whose default rule uses "
    "`aws:kms`, `aws:kms:dsse` or `AES256`.",
    Severity.HIGH,
    ["encryption"],
    "Add a BucketServerSideEncryptionConfiguration with sseAlgorithm aws:kms and the lake's KMS key to the bucket.",
    _validate_encryption,
)


def _validate_kms(args, report_violation) -> None:
    for bucket in _buckets(args):
        configs = companions(args.resources, bucket, SSE)
        defaults = [by_default for sse in configs for by_default in _default_encryption(sse) if by_default]
        if not any(
            known(by_default, "sseAlgorithm") in KMS_ALGORITHMS and has_key(by_default, "kmsMasterKeyId")
            for by_default in defaults
        ):
            report_violation(
                f"Bucket {label(bucket)} is not encrypted with a customer-managed KMS key; "
                "set sseAlgorithm aws:kms and kmsMasterKeyId in its encryption configuration.",
                bucket.urn,
            )


require_kms_encryption = stack_policy(
    "aws-s3-bucket-require-kms-encryption",
    "DP-S3-002",
    "S3 buckets use SSE-KMS with a customer-managed key",
    "Every bucket's default encryption uses `aws:kms` (or `aws:kms:dsse`) and names a `kmsMasterKeyId` "
    "(its value may be unknown at preview: a key created in the same stack).",
    Severity.HIGH,
    ["encryption"],
    "Set sseAlgorithm aws:kms and kmsMasterKeyId to the lake's KMS key in the bucket's encryption configuration.",
    _validate_kms,
    exemptable=True,
)


def _validate_versioning(args, report_violation) -> None:
    for bucket in _buckets(args):
        versionings = companions(args.resources, bucket, VERSIONING)
        statuses = [known(versioning.props, "versioningConfiguration", "status") for versioning in versionings]
        if "Enabled" not in statuses:
            report_violation(
                f"Bucket {label(bucket)} is not versioned; add a BucketVersioning with status Enabled for it.",
                bucket.urn,
            )


enable_versioning = stack_policy(
    "aws-s3-bucket-enable-versioning",
    "DP-S3-003",
    "S3 buckets keep object versions",
    "Every bucket has a `BucketVersioning` with `versioningConfiguration.status` = `Enabled`.",
    Severity.MEDIUM,
    ["retention"],
    "Add a BucketVersioning with versioningConfiguration.status Enabled to the bucket.",
    _validate_versioning,
)


def _validate_public_access(args, report_violation) -> None:
    for bucket in _buckets(args):
        acl = known(bucket.props, "acl")
        if acl in PUBLIC_ACLS:
            report_violation(
                f"Bucket {label(bucket)} grants the canned ACL {acl}; remove the acl input so it stays private.",
                bucket.urn,
            )
        blocks = companions(args.resources, bucket, PUBLIC_ACCESS_BLOCK)
        off = [[flag for flag in PUBLIC_ACCESS_FLAGS if not truthy(known(block.props, flag))] for block in blocks]
        if not blocks:
            report_violation(
                f"Bucket {label(bucket)} does not block public access (it has no BucketPublicAccessBlock); add one "
                f"with {', '.join(PUBLIC_ACCESS_FLAGS)} set to true.",
                bucket.urn,
            )
        elif all(off):
            fewest = min(off, key=len)
            report_violation(
                f"Bucket {label(bucket)} does not block public access ({', '.join(fewest)} not true on its "
                f"BucketPublicAccessBlock); set {', '.join(fewest)} to true.",
                bucket.urn,
            )


disallow_public_access = stack_policy(
    "aws-s3-bucket-disallow-public-access",
    "DP-S3-004",
    "S3 buckets block every form of public access",
    "Every bucket has a `BucketPublicAccessBlock` with `blockPublicAcls`, `blockPublicPolicy`, "
    "`ignorePublicAcls` and `restrictPublicBuckets` true, and sets no public canned ACL.",
    Severity.CRITICAL,
    ["access"],
    "Add a BucketPublicAccessBlock with all four flags true to the bucket and drop any public ACL.",
    _validate_public_access,
)


def _validate_ownership(args, report_violation) -> None:
    for bucket in _buckets(args):
        owners = [known(o.props, "rule", "objectOwnership") for o in companions(args.resources, bucket, OWNERSHIP)]
        if "BucketOwnerEnforced" not in owners:
            report_violation(
                f"Bucket {label(bucket)} still honours ACLs; add BucketOwnershipControls with objectOwnership "
                "BucketOwnerEnforced for it.",
                bucket.urn,
            )


require_owner_enforced = stack_policy(
    "aws-s3-bucket-require-owner-enforced",
    "DP-S3-005",
    "S3 buckets disable ACLs (bucket owner enforced)",
    "Every bucket has `BucketOwnershipControls` with `rule.objectOwnership` = `BucketOwnerEnforced`, so access is "
    "decided by policies alone.",
    Severity.HIGH,
    ["access"],
    "Add BucketOwnershipControls with objectOwnership BucketOwnerEnforced to the bucket.",
    _validate_ownership,
)


def _denies_plain_http(statement) -> bool:
    if statement.get("Effect") != "Deny":
        return False
    principal = statement.get("Principal")
    if not (principal == "*" or (isinstance(principal, dict) and "*" in as_list(principal.get("AWS")))):
        return False
    if not {"s3:*", "*"} & set(as_list(statement.get("Action"))):
        return False
    secure = (statement.get("Condition") or {}).get("Bool", {}).get("aws:SecureTransport")
    return any(str(value).lower() == "false" for value in as_list(secure))


def _validate_tls(args, report_violation) -> None:
    for bucket in _buckets(args):
        documents = [known(p.props, "policy") for p in companions(args.resources, bucket, BUCKET_POLICY)]
        if any(document is UNKNOWN for document in documents):
            report_violation(
                f"Bucket {label(bucket)} has a bucket policy that is unknown at preview; render it from literal "
                "names and ARNs so the TLS rule can be checked.",
                bucket.urn,
            )
            continue
        statements = [s for document in documents for s in (policy_statements(document) or [])]
        if not any(_denies_plain_http(statement) for statement in statements):
            report_violation(
                f"Bucket {label(bucket)} accepts requests without TLS; add a bucket policy statement that denies "
                "s3:* to every principal when aws:SecureTransport is false.",
                bucket.urn,
            )


require_tls = stack_policy(
    "aws-s3-bucket-require-tls",
    "DP-S3-006",
    "S3 buckets refuse requests without TLS",
    "Every bucket has a `BucketPolicy` (known at preview) with a statement that denies `s3:*` to principal `*` "
    "under the condition `Bool aws:SecureTransport = false`.",
    Severity.HIGH,
    ["transport"],
    "Add a bucket policy statement that denies s3:* to every principal when aws:SecureTransport is false.",
    _validate_tls,
)


def _validate_access_logging(args, report_violation) -> None:
    loggings = of_type(args.resources, LOGGING)
    sinks = {dep.urn for logging in loggings for dep in logging.property_dependencies.get("targetBucket", [])}
    sink_names = {
        name for name in (known(logging.props, "targetBucket") for logging in loggings) if isinstance(name, str)
    }
    for bucket in _buckets(args):
        # A log sink does not log into itself (that loops); its own trail is the sources' logs.
        if bucket.urn in sinks or known(bucket.props, "bucket") in sink_names:
            continue
        configured = [
            logging
            for logging in companions(args.resources, bucket, LOGGING)
            if has_key(logging.props, "targetBucket") and known(logging.props, "targetPrefix")
        ]
        if not configured:
            report_violation(
                f"Bucket {label(bucket)} has no server access logging; add a BucketLogging with targetBucket "
                "(the access-logs bucket) and a targetPrefix for it.",
                bucket.urn,
            )


enable_access_logging = stack_policy(
    "aws-s3-bucket-enable-access-logging",
    "DP-S3-007",
    "S3 buckets write server access logs",
    "Every bucket has a `BucketLogging` with a `targetBucket` and a non-empty `targetPrefix`. A bucket that is "
    "the `targetBucket` of another bucket's logging (the log sink) is not required to log into itself.",
    Severity.MEDIUM,
    ["audit"],
    "Add a BucketLogging that delivers the bucket's access logs to the access-logs bucket under its own prefix.",
    _validate_access_logging,
    exemptable=True,
)


def _enabled_rules(lifecycles) -> list:
    rules = [rule for lifecycle in lifecycles for rule in items(known(lifecycle.props, "rules"))]
    return [rule for rule in rules if rule and known(rule, "status") == "Enabled"]


def _validate_abort_multipart(args, report_violation) -> None:
    for bucket in _buckets(args):
        rules = _enabled_rules(companions(args.resources, bucket, LIFECYCLE))
        if not any(number(known(r, "abortIncompleteMultipartUpload", "daysAfterInitiation")) for r in rules):
            report_violation(
                f"Bucket {label(bucket)} keeps incomplete multipart uploads forever; add an enabled lifecycle rule "
                "with abortIncompleteMultipartUpload.daysAfterInitiation for it.",
                bucket.urn,
            )


configure_abort_multipart = stack_policy(
    "aws-s3-bucket-configure-abort-incomplete-multipart",
    "DP-S3-008",
    "S3 buckets abort incomplete multipart uploads",
    "Every bucket has a `BucketLifecycleConfiguration` with an `Enabled` rule that sets "
    "`abortIncompleteMultipartUpload.daysAfterInitiation`.",
    Severity.LOW,
    ["retention"],
    "Add an enabled lifecycle rule with abortIncompleteMultipartUpload.daysAfterInitiation to the bucket.",
    _validate_abort_multipart,
)


def _validate_noncurrent(args, report_violation) -> None:
    for bucket in _buckets(args):
        rules = _enabled_rules(companions(args.resources, bucket, LIFECYCLE))
        if not any(number(known(r, "noncurrentVersionExpiration", "noncurrentDays")) for r in rules):
            report_violation(
                f"Bucket {label(bucket)} keeps noncurrent versions forever; add an enabled lifecycle rule with "
                "noncurrentVersionExpiration.noncurrentDays for it.",
                bucket.urn,
            )


configure_noncurrent_expiry = stack_policy(
    "aws-s3-bucket-configure-noncurrent-version-expiry",
    "DP-S3-009",
    "S3 buckets expire noncurrent object versions",
    "Every bucket has a `BucketLifecycleConfiguration` with an `Enabled` rule that sets "
    "`noncurrentVersionExpiration.noncurrentDays`.",
    Severity.LOW,
    ["retention"],
    "Add an enabled lifecycle rule with noncurrentVersionExpiration.noncurrentDays to the bucket.",
    _validate_noncurrent,
)


def _audit_buckets(args):
    roles = setting(args, "auditRoles", AUDIT_BUCKET_ROLES)
    names = setting(args, "auditBuckets", [])
    return [bucket for bucket in _buckets(args) if is_audit_bucket(bucket.props, roles, names)]


def _validate_log_retention(args, report_violation) -> None:
    min_days = int(setting(args, "minDays", MIN_AUDIT_DAYS))
    for bucket in _audit_buckets(args):
        lifecycles = companions(args.resources, bucket, LIFECYCLE)
        expiries = [number(known(rule, "expiration", "days")) for rule in _enabled_rules(lifecycles)]
        short = [days for days in expiries if days is not None and days < min_days]
        if short:
            report_violation(
                f"Audit bucket {label(bucket)} expires objects after {int(min(short))} days; keep them at least "
                f"{min_days} days.",
                bucket.urn,
            )


configure_log_retention = stack_policy(
    "aws-s3-bucket-configure-log-retention",
    "DP-S3-010",
    "Audit buckets keep objects for at least the audit period",
    "On audit buckets (a physical name of `auditBuckets`, the stack's facts, or a role of `auditRoles`: `logs`, "
    "`access-logs`), no enabled lifecycle rule expires current objects before `minDays` (90).",
    Severity.HIGH,
    ["audit", "retention"],
    "Raise the bucket's lifecycle expiration to at least the audit period (90 days).",
    _validate_log_retention,
    config=AUDIT_CONFIG,
)


def _validate_object_lock(args, report_violation) -> None:
    min_days = int(setting(args, "minDays", MIN_AUDIT_DAYS))
    for bucket in _audit_buckets(args):
        if not truthy(known(bucket.props, "objectLockEnabled")):
            report_violation(
                f"Audit bucket {label(bucket)} has no object lock; set objectLockEnabled to true on it.",
                bucket.urn,
            )
            continue
        retentions = [
            known(lock.props, "rule", "defaultRetention") for lock in companions(args.resources, bucket, OBJECT_LOCK)
        ]
        if not any(
            retention
            and known(retention, "mode") == "COMPLIANCE"
            and (number(known(retention, "days")) or 365 * (number(known(retention, "years")) or 0)) >= min_days
            for retention in retentions
        ):
            report_violation(
                f"Audit bucket {label(bucket)} has no COMPLIANCE default retention of at least {min_days} days; "
                "add a BucketObjectLockConfiguration with that retention for it.",
                bucket.urn,
            )


enable_object_lock = stack_policy(
    "aws-s3-bucket-enable-object-lock",
    "DP-S3-011",
    "Audit buckets lock objects in COMPLIANCE mode",
    "Audit buckets (a physical name of `auditBuckets` or a role of `auditRoles`) set `objectLockEnabled` and have a "
    "`BucketObjectLockConfiguration` "
    "whose default retention is `COMPLIANCE` for at least `minDays` (90).",
    Severity.HIGH,
    ["audit", "retention"],
    "Enable object lock on the bucket and add a COMPLIANCE default retention of at least 90 days.",
    _validate_object_lock,
    exemptable=True,
    config=AUDIT_CONFIG,
)


def _validate_wildcard_principals(args, report_violation) -> None:
    if args.resource_type != BUCKET_POLICY:
        return
    document = known(args.props, "policy")
    statements = policy_statements(document)
    if statements is None:
        report_violation(
            f"Bucket policy '{args.name}' is not a JSON document known at preview; render it from literal names "
            "and ARNs.",
        )
        return
    if any(wildcard_principal(statement) for statement in statements):
        report_violation(
            f"Bucket policy '{args.name}' allows a wildcard principal; name the identities that need access instead.",
        )


disallow_wildcard_principals = resource_policy(
    "aws-s3-bucket-disallow-wildcard-principals",
    "DP-S3-012",
    "S3 bucket policies never allow everyone",
    'No `aws:s3/bucketPolicy:BucketPolicy` has an `Allow` statement with principal `*` (or `{"AWS": "*"}`) '
    "or any `NotPrincipal`; the document must be known at preview. Deny statements may use `*`.",
    Severity.CRITICAL,
    ["access"],
    "Replace the wildcard principal with the ARNs of the identities that need access.",
    _validate_wildcard_principals,
)


def _validate_role_tag(args, report_violation) -> None:
    if args.resource_type != AWS_BUCKET:
        return
    if not tags_of(args.props).get("dataplatform:role"):
        report_violation(
            f"Bucket '{args.name}' has no dataplatform:role tag; tag it with its role so role-based policies "
            "apply to it.",
        )


require_role_tag = resource_policy(
    "aws-s3-bucket-require-role-tag",
    "DP-S3-013",
    "S3 buckets declare their role",
    "Every bucket has a non-empty `dataplatform:role` tag; the audit policies select buckets by it.",
    Severity.MEDIUM,
    ["audit"],
    "Tag the bucket with dataplatform:role set to its role (bronze, logs, access-logs, ...).",
    _validate_role_tag,
)


def _validate_protection(args, report_violation) -> None:
    if args.resource_type not in (AWS_BUCKET, KMS_KEY):
        return
    kind = "Bucket" if args.resource_type == AWS_BUCKET else "KMS key"
    if not args.opts.protect:
        report_violation(f"{kind} '{args.name}' is not protected; set protect=True on it.")
    if args.resource_type == AWS_BUCKET and truthy(known(args.props, "forceDestroy")):
        report_violation(f"Bucket '{args.name}' sets forceDestroy; set forceDestroy to false on it.")


require_deletion_protection = resource_policy(
    "aws-storage-require-deletion-protection",
    "DP-AWS-001",
    "Data-bearing AWS resources are protected from deletion",
    "Every `aws:s3/bucket:Bucket` and `aws:kms/key:Key` has the `protect` option, and no bucket sets `forceDestroy`.",
    Severity.HIGH,
    ["retention"],
    "Set protect=True on the resource and forceDestroy=False on buckets.",
    _validate_protection,
)


def _validate_rotation(args, report_violation) -> None:
    if args.resource_type == KMS_KEY and not truthy(known(args.props, "enableKeyRotation")):
        report_violation(f"KMS key '{args.name}' does not rotate; set enableKeyRotation to true on it.")


enable_key_rotation = resource_policy(
    "aws-kms-key-enable-rotation",
    "DP-KMS-001",
    "KMS keys rotate their key material",
    "Every `aws:kms/key:Key` sets `enableKeyRotation` to true.",
    Severity.MEDIUM,
    ["encryption"],
    "Set enableKeyRotation to true on the KMS key.",
    _validate_rotation,
)


# Actions that take no resource narrower than `*` (AWS's Service Authorization Reference, "Resource types" column
# empty for each): listing the account's buckets is one.
UNSCOPED_ACTIONS = frozenset({"s3:ListAllMyBuckets"})


def _unscoped(statement) -> bool:
    """An Allow of only resource-less actions on `*`: the only resource such an action can name."""
    actions = as_list(statement.get("Action"))
    return bool(actions) and set(actions) <= UNSCOPED_ACTIONS and as_list(statement.get("Resource")) == ["*"] \
        and "NotAction" not in statement and "NotResource" not in statement


def _validate_iam_documents(args, report_violation) -> None:
    if args.resource_type not in IAM_DOCUMENTS:
        return
    statements = policy_statements(known(args.props, "policy"))
    if statements is None:
        report_violation(
            f"IAM policy '{args.name}' is not a JSON document known at preview; render it from literal names and ARNs.",
        )
        return
    broad = [grant for grant in (wildcard_grant(statement) for statement in statements if not _unscoped(statement))
             if grant]
    if broad:
        report_violation(
            f"IAM policy '{args.name}' allows {broad[0]}; list the exact actions and resources the identity needs.",
        )


disallow_iam_wildcards = resource_policy(
    "aws-iam-policy-disallow-wildcard-access",
    "DP-IAM-001",
    "IAM policies grant named actions on named resources",
    "No IAM user, role, group or managed policy has an `Allow` statement with action `*` or `<service>:*`, "
    "resource `*` (but for actions that take no narrower resource, such as `s3:ListAllMyBuckets`), `NotAction` or "
    "`NotResource`; the document must be known at preview.",
    Severity.HIGH,
    ["access"],
    "List the exact actions and resource ARNs the identity needs instead of wildcards.",
    _validate_iam_documents,
)


# ---- workload identity: the roles' trust and the access keys left -------------------------------------------------

IAM_ROLE = "aws:iam/role:Role"
IAM_USER = "aws:iam/user:User"
ACCESS_KEY = "aws:iam/accessKey:AccessKey"
WEB_IDENTITY_ACTION = "sts:AssumeRoleWithWebIdentity"
STS_AUDIENCE = "sts.amazonaws.com"
# `system:serviceaccount:<namespace>:<service account>`, both names as Kubernetes writes them: no `*` or `?`.
SERVICE_ACCOUNT_SUBJECT = re.compile(
    r"^system:serviceaccount:[a-z0-9]([-a-z0-9]*[a-z0-9])?:[a-z0-9]([-.a-z0-9]*[a-z0-9])?$")
# The tag the program puts on an IAM user with the day its access key was issued (an access key takes no tags).
KEYS_ISSUED_TAG = "dataplatform:keys-issued"
MAX_KEY_AGE_DAYS = 90


def _federated_provider(statement: dict) -> str | None:
    """The OIDC provider ARN a trust statement names as its federated principal, if any."""
    principal = statement.get("Principal")
    federated = principal.get("Federated") if isinstance(principal, dict) else None
    providers = [value for value in as_list(federated) if isinstance(value, str) and ":oidc-provider/" in value]
    return providers[0] if providers else None


def trust_problem(statement: dict) -> str | None:
    """What makes one Allow statement of a role's trust policy broader than one service account of one namespace
    with a token for STS, or None. A web identity statement must be an `sts:AssumeRoleWithWebIdentity` from the
    cluster's OIDC provider with `StringEquals` on the provider's `:sub` (exactly one
    `system:serviceaccount:<namespace>:<service account>`, no pattern) and `:aud` (`sts.amazonaws.com`), and no other
    operator on those keys."""
    actions = as_list(statement.get("Action"))
    provider = _federated_provider(statement)
    if WEB_IDENTITY_ACTION not in actions and "sts:*" not in actions and "*" not in actions and provider is None:
        return None
    if provider is None:
        return f"allows {WEB_IDENTITY_ACTION} to a principal that is not the cluster's OIDC provider"
    issuer = provider.split(":oidc-provider/", 1)[1]
    sub_key, aud_key = f"{issuer}:sub", f"{issuer}:aud"
    condition = statement.get("Condition") if isinstance(statement.get("Condition"), dict) else {}
    for operator, clauses in condition.items():
        if operator != "StringEquals" and isinstance(clauses, dict) and {sub_key, aud_key} & set(clauses):
            return f"matches the token's claims with {operator}; use StringEquals on `{sub_key}` and `{aud_key}`"
    equals = condition.get("StringEquals") if isinstance(condition.get("StringEquals"), dict) else {}
    subjects = as_list(equals.get(sub_key))
    if len(subjects) != 1 or not isinstance(subjects[0], str) or not SERVICE_ACCOUNT_SUBJECT.match(subjects[0]):
        seen = ", ".join(str(subject) for subject in subjects) or "none"
        return (f"does not limit `{sub_key}` to one `system:serviceaccount:<namespace>:<service account>` "
                f"with StringEquals (seen: {seen})")
    audiences = as_list(equals.get(aud_key))
    if audiences != [STS_AUDIENCE]:
        seen = ", ".join(str(audience) for audience in audiences) or "none"
        return f"does not limit `{aud_key}` to `{STS_AUDIENCE}` with StringEquals (seen: {seen})"
    return None


def _validate_workload_trust(args, report_violation) -> None:
    if args.resource_type != IAM_ROLE:
        return
    statements = policy_statements(known(args.props, "assumeRolePolicy"))
    if statements is None:
        report_violation(f"IAM role '{args.name}' has a trust policy that is not a JSON document known at preview; "
                         "render it from the OIDC provider's ARN and the service account's name.")
        return
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        problem = trust_problem(statement)
        if problem:
            report_violation(f"IAM role '{args.name}' trust statement '{statement.get('Sid', '(no Sid)')}' {problem}; "
                             "trust one namespace's one service account through the cluster's OIDC provider.")


configure_workload_trust = resource_policy(
    "aws-iam-role-configure-workload-trust",
    "DP-IAM-003",
    "A workload role trusts one service account of one namespace",
    "Every `aws:iam/role:Role` whose trust policy allows `sts:AssumeRoleWithWebIdentity` (or names an OIDC provider) "
    "allows it only from the cluster's OIDC provider, with `StringEquals` on the provider's `:sub` (exactly one "
    "`system:serviceaccount:<namespace>:<service account>`, no `*` or `?`) and `:aud` (`sts.amazonaws.com`); the "
    "document must be known at preview.",
    Severity.HIGH,
    ["access"],
    "Give the role's trust statement StringEquals on `<issuer>:sub` = `system:serviceaccount:<namespace>:<service "
    "account>` and `<issuer>:aud` = `sts.amazonaws.com`.",
    _validate_workload_trust,
)


def _key_user(key, users):
    """The IAM user an access key belongs to: by the `user` input's property dependency (the user's name may be
    unknown at preview), else by the user's name when it is known, else by a plain dependency on exactly one user."""
    by_property = {dependency.urn for dependency in key.property_dependencies.get("user", [])}
    if by_property:
        return next((user for user in users if user.urn in by_property), None)
    name = known(key.props, "user")
    if isinstance(name, str):
        return next((user for user in users if known(user.props, "name") == name), None)
    depended = [dependency.urn for dependency in key.dependencies if dependency.resource_type == IAM_USER]
    return next((user for user in users if user.urn == depended[0]), None) if len(depended) == 1 else None


def _validate_key_rotation(args, report_violation) -> None:
    config = args.get_config() or {}
    on = judged_on(config, report_violation)
    if on is None:
        return
    max_days = int(setting(args, "maxAgeDays", MAX_KEY_AGE_DAYS))
    users = of_type(args.resources, IAM_USER)
    for key in of_type(args.resources, ACCESS_KEY):
        user = _key_user(key, users)
        user_name = (known(user.props, "name") if user is not None else None) or known(key.props, "user")
        issued_text = tags_of(user.props).get(KEYS_ISSUED_TAG) if user is not None else None
        issued = parse_date(issued_text) if issued_text else None
        what = f"Access key '{key.name}' of IAM user '{user_name if isinstance(user_name, str) else '(unknown)'}'"
        if issued is None:
            report_violation(f"{what} has no issue date (its user's `{KEYS_ISSUED_TAG}` tag, "
                             f"seen: {issued_text or 'none'}); set `storage.s3.accessKeysIssued` (make rotate-keys).",
                             key.urn)
        elif issued > on:
            report_violation(f"{what} says it was issued on {issued.isoformat()}, after the evaluation date "
                             f"{on.isoformat()}; set `storage.s3.accessKeysIssued` to the day the keys were issued.",
                             key.urn)
        elif (on - issued).days > max_days:
            report_violation(f"{what} was issued on {issued.isoformat()}, {(on - issued).days} days before "
                             f"{on.isoformat()} (at most {max_days}); rotate it with `make rotate-keys` and "
                             "`pulumi up`.", key.urn)


configure_key_rotation = stack_policy(
    "aws-iam-access-key-configure-rotation",
    "DP-IAM-004",
    "Access keys that remain are rotated",
    f"Every `aws:iam/accessKey:AccessKey` belongs to an IAM user of the stack whose `{KEYS_ISSUED_TAG}` tag (the "
    "program's `storage.s3.accessKeysIssued`, which replaces the keys when it changes) is a date no later than the "
    f"evaluation date and at most `maxAgeDays` ({MAX_KEY_AGE_DAYS}) before it.",
    Severity.HIGH,
    ["access"],
    "Run `make rotate-keys STACK=<stack>`, commit the new `storage.s3.accessKeysIssued` and run `pulumi up`.",
    _validate_key_rotation,
    config={
        "maxAgeDays": {"type": "integer", "minimum": 1, "default": MAX_KEY_AGE_DAYS,
                       "description": "Most days an access key may be in use before it is replaced."},
        DATE_SETTING: SETTINGS_SCHEMA[DATE_SETTING],
    },
)


POLICIES = [
    enable_encryption,
    require_kms_encryption,
    enable_versioning,
    disallow_public_access,
    require_owner_enforced,
    require_tls,
    enable_access_logging,
    configure_abort_multipart,
    configure_noncurrent_expiry,
    configure_log_retention,
    enable_object_lock,
    disallow_wildcard_principals,
    require_role_tag,
    require_deletion_protection,
    enable_key_rotation,
    disallow_iam_wildcards,
    configure_workload_trust,
    configure_key_rotation,
]
