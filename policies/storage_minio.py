"""Storage on MinIO: buckets, their companions (versioning, SSE, ILM), the provider's transport and IAM documents.

pulumi-minio has no public access block, TLS-only bucket policy, access logging, abort-multipart rule or
object-lock retention resource (its audit trail is MinIO's server-side audit webhook), so those controls are
enforced on S3 only; see docs/policies.md.
"""

from __future__ import annotations

import re

from pulumi_policy import Severity

from .common import (
    AUDIT_BUCKET_ROLES,
    AUDIT_BUCKETS_SETTING,
    MIN_AUDIT_DAYS,
    MINIO_BUCKET,
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
    truthy,
    wildcard_grant,
    wildcard_principal,
)

VERSIONING = "minio:index/s3BucketVersioning:S3BucketVersioning"
SSE = "minio:index/s3BucketServerSideEncryption:S3BucketServerSideEncryption"
ILM = "minio:index/ilmPolicy:IlmPolicy"
BUCKET_POLICY = "minio:index/s3BucketPolicy:S3BucketPolicy"
IAM_POLICY = "minio:index/iamPolicy:IamPolicy"
PROVIDER = "pulumi:providers:minio"


def _buckets(args):
    return of_type(args.resources, MINIO_BUCKET)


def _validate_encryption(args, report_violation) -> None:
    for bucket in _buckets(args):
        configs = companions(args.resources, bucket, SSE)
        if not any(
            known(sse.props, "encryptionType") == "aws:kms" and has_key(sse.props, "kmsKeyId") for sse in configs
        ):
            report_violation(
                f"Bucket {label(bucket)} has no SSE-KMS default encryption; add an S3BucketServerSideEncryption "
                "with encryptionType aws:kms and the MinIO KMS key id for it.",
                bucket.urn,
            )


enable_encryption = stack_policy(
    "minio-s3-bucket-enable-encryption",
    "DP-MINIO-001",
    "MinIO buckets encrypt objects with a KMS key",
    "Every `minio:index/s3Bucket:S3Bucket` has an `S3BucketServerSideEncryption` with `encryptionType` = "
    "`aws:kms` and a `kmsKeyId`.",
    Severity.HIGH,
    ["encryption"],
    "Add an S3BucketServerSideEncryption with encryptionType aws:kms and the MinIO KMS key id to the bucket.",
    _validate_encryption,
)


def _validate_versioning(args, report_violation) -> None:
    for bucket in _buckets(args):
        versionings = companions(args.resources, bucket, VERSIONING)
        if "Enabled" not in [known(v.props, "versioningConfiguration", "status") for v in versionings]:
            report_violation(
                f"Bucket {label(bucket)} is not versioned; add an S3BucketVersioning with status Enabled for it.",
                bucket.urn,
            )


enable_versioning = stack_policy(
    "minio-s3-bucket-enable-versioning",
    "DP-MINIO-002",
    "MinIO buckets keep object versions",
    "Every bucket has an `S3BucketVersioning` with `versioningConfiguration.status` = `Enabled`.",
    Severity.MEDIUM,
    ["retention"],
    "Add an S3BucketVersioning with versioningConfiguration.status Enabled to the bucket.",
    _validate_versioning,
)


def _enabled_rules(args, bucket) -> list:
    rules = [rule for ilm in companions(args.resources, bucket, ILM) for rule in items(known(ilm.props, "rules"))]
    # The provider's default status is Enabled.
    return [rule for rule in rules if rule and known(rule, "status") in (None, "Enabled")]


def _validate_noncurrent(args, report_violation) -> None:
    for bucket in _buckets(args):
        if not any(number(known(rule, "noncurrentVersionExpirationDays")) for rule in _enabled_rules(args, bucket)):
            report_violation(
                f"Bucket {label(bucket)} keeps noncurrent versions forever; add an IlmPolicy rule with "
                "noncurrentVersionExpirationDays for it.",
                bucket.urn,
            )


configure_noncurrent_expiry = stack_policy(
    "minio-s3-bucket-configure-noncurrent-version-expiry",
    "DP-MINIO-003",
    "MinIO buckets expire noncurrent object versions",
    "Every bucket has an `IlmPolicy` with an enabled rule that sets `noncurrentVersionExpirationDays`.",
    Severity.LOW,
    ["retention"],
    "Add an IlmPolicy rule with noncurrentVersionExpirationDays to the bucket.",
    _validate_noncurrent,
)


def _expiry_days(expiration) -> float | None:
    """ILM `expiration` is `<n>d` or an ISO date; only the day form has a length."""
    if isinstance(expiration, str) and (match := re.fullmatch(r"(\d+)d", expiration.strip())):
        return float(match[1])
    return None


def _validate_log_retention(args, report_violation) -> None:
    roles = setting(args, "auditRoles", AUDIT_BUCKET_ROLES)
    names = setting(args, "auditBuckets", [])
    min_days = int(setting(args, "minDays", MIN_AUDIT_DAYS))
    for bucket in _buckets(args):
        if not is_audit_bucket(bucket.props, roles, names):
            continue
        rules = _enabled_rules(args, bucket)
        dated = [
            rule for rule in rules if known(rule, "expiration") and _expiry_days(known(rule, "expiration")) is None
        ]
        short = [days for days in (_expiry_days(known(rule, "expiration")) for rule in rules) if days is not None]
        short = [days for days in short if days < min_days]
        if short or dated:
            shown = f"after {int(min(short))} days" if short else "on a fixed date"
            report_violation(
                f"Audit bucket {label(bucket)} expires objects {shown}; keep them at least {min_days} days.",
                bucket.urn,
            )


configure_log_retention = stack_policy(
    "minio-s3-bucket-configure-log-retention",
    "DP-MINIO-004",
    "MinIO audit buckets keep objects for at least the audit period",
    "On audit buckets (a physical name of `auditBuckets`, the stack's facts, or a role of `auditRoles`, the name's "
    "`-<role>` suffix), no enabled ILM rule expires objects before `minDays` (90) or on a fixed date.",
    Severity.HIGH,
    ["audit", "retention"],
    "Set the bucket's ILM expiration to at least the audit period, as `<days>d`.",
    _validate_log_retention,
    config={
        "auditRoles": {
            "type": "array",
            "items": {"type": "string"},
            "default": AUDIT_BUCKET_ROLES,
            "description": "Bucket roles that hold audit trails (matched against the bucket name's suffix).",
        },
        "auditBuckets": AUDIT_BUCKETS_SETTING,
        "minDays": {
            "type": "integer",
            "minimum": 1,
            "default": MIN_AUDIT_DAYS,
            "description": "Fewest days an audit bucket keeps its objects.",
        },
    },
)


def _validate_public_access(args, report_violation) -> None:
    if args.resource_type == MINIO_BUCKET:
        acl = known(args.props, "acl")
        if acl not in (None, "private"):
            report_violation(f"Bucket '{args.name}' has acl {acl}; set acl to private on it.")
    elif args.resource_type == BUCKET_POLICY:
        statements = policy_statements(known(args.props, "policy"))
        if statements is None:
            report_violation(
                f"Bucket policy '{args.name}' is not a JSON document known at preview; render it from literal names.",
            )
        elif any(wildcard_principal(statement) for statement in statements):
            report_violation(
                f"Bucket policy '{args.name}' allows a wildcard principal; grant access to named MinIO users instead.",
            )


disallow_public_access = resource_policy(
    "minio-s3-bucket-disallow-public-access",
    "DP-MINIO-005",
    "MinIO buckets are private",
    "Every `S3Bucket` has `acl` `private` (the provider's default when unset), and no `S3BucketPolicy` allows a "
    "wildcard principal.",
    Severity.CRITICAL,
    ["access"],
    "Set acl to private and grant access through IAM policies of named users instead of bucket policies.",
    _validate_public_access,
)


def _validate_provider_tls(args, report_violation) -> None:
    if args.resource_type == PROVIDER and not truthy(known(args.props, "minioSsl")):
        report_violation(f"MinIO provider '{args.name}' talks to MinIO without TLS; set minioSsl to true on it.")


require_provider_tls = resource_policy(
    "minio-provider-require-tls",
    "DP-MINIO-006",
    "The MinIO provider connects over TLS",
    "Every explicit `pulumi:providers:minio` sets `minioSsl` to true (the provider defaults to false).",
    Severity.HIGH,
    ["transport"],
    "Set minioSsl to true (and minioCacertFile when MinIO's CA is private) on the MinIO provider.",
    _validate_provider_tls,
)


def _validate_iam_documents(args, report_violation) -> None:
    if args.resource_type != IAM_POLICY:
        return
    statements = policy_statements(known(args.props, "policy"))
    if statements is None:
        report_violation(
            f"MinIO policy '{args.name}' is not a JSON document known at preview; render it from literal names.",
        )
        return
    broad = [grant for grant in (wildcard_grant(statement) for statement in statements) if grant]
    if broad:
        report_violation(
            f"MinIO policy '{args.name}' allows {broad[0]}; list the exact actions and buckets the user needs.",
        )


disallow_iam_wildcards = resource_policy(
    "minio-iam-policy-disallow-wildcard-access",
    "DP-MINIO-007",
    "MinIO IAM policies grant named actions on named buckets",
    "No `minio:index/iamPolicy:IamPolicy` has an `Allow` statement with action `*` or `s3:*`, resource `*`, "
    "`NotAction` or `NotResource`; the document must be known at preview.",
    Severity.HIGH,
    ["access"],
    "List the exact actions and bucket ARNs the user needs instead of wildcards.",
    _validate_iam_documents,
)


def _validate_protection(args, report_violation) -> None:
    if args.resource_type != MINIO_BUCKET:
        return
    if not args.opts.protect:
        report_violation(f"Bucket '{args.name}' is not protected; set protect=True on it.")
    if truthy(known(args.props, "forceDestroy")):
        report_violation(f"Bucket '{args.name}' sets forceDestroy; set forceDestroy to false on it.")


require_deletion_protection = resource_policy(
    "minio-s3-bucket-require-deletion-protection",
    "DP-MINIO-008",
    "MinIO buckets are protected from deletion",
    "Every `S3Bucket` has the `protect` option and does not set `forceDestroy`. Disabled in dev, where buckets "
    "are disposable.",
    Severity.HIGH,
    ["retention"],
    "Set protect=True and forceDestroy=False on the bucket.",
    _validate_protection,
)


POLICIES = [
    enable_encryption,
    enable_versioning,
    configure_noncurrent_expiry,
    configure_log_retention,
    disallow_public_access,
    require_provider_tls,
    disallow_iam_wildcards,
    require_deletion_protection,
]
