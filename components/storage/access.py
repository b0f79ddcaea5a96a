"""Pure helpers of the storage layer: the bucket inventory, the access matrix and the policy documents.

Nothing here creates resources. The buckets are the lake's (one per flow layer, and `logs`), the layer's own
`access-logs`, and the buckets products keep for themselves (`ServiceBucket`, each declared in its product's folder
and listed in components/platform.py). The access matrix is derived from the catalog's roles (those with
`storage: true`) plus each service bucket's one writer identity; policy documents are rendered from it with
literal ARNs, so they are known at preview and the policy pack can judge them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from components.storage.config import StorageConfig
from infra.model import naming
from infra.model.catalog import FLOW_LAYERS, Catalog
from infra.model.sections import StackIdentity

Access = Literal["read", "write", "append"]
"""`read`: list the bucket and read current objects; `write`: also put and delete; `append`: put new objects and
nothing else (no list, no read, no delete): a shipper that only adds logs."""

LAKE_BUCKETS: tuple[str, ...] = (*FLOW_LAYERS, "logs")


@dataclass(frozen=True)
class ServiceBucket:
    """A bucket kept for one service rather than for the flow: its role (the name's `-<role>` suffix), the one
    identity that writes it (and may read it), and what that identity is for."""

    role: str
    writer: str
    description: str


# The layer's own: S3's server access logs of every other bucket (MinIO's audit goes to the log shipper instead).
# The shipper writes the lake's `logs` layer through a put-only prefix writer (components/logs/lake.py), not this
# identity, which never touches `logs`.
LOG_SHIPPER = "log-shipper"
ACCESS_LOGS = ServiceBucket("access-logs", LOG_SHIPPER, "Writes audit events into access-logs.")


def bucket_roles(service_buckets: Sequence[ServiceBucket]) -> tuple[str, ...]:
    """Every bucket role of a stack: the lake's, then the service buckets'."""
    return (*LAKE_BUCKETS, *(bucket.role for bucket in service_buckets))
@dataclass(frozen=True)
class PrefixGrant:
    """A prefix of another service's bucket lent to one identity: it reads and writes only under `prefix` there,
    and the bucket expires what lies under the prefix after `expire_days` (0: never). For a product whose backups
    belong in the `backups` bucket but are written by its own identity (Dremio's coordinator writes its backup
    itself, through its distributed store's credentials)."""

    bucket: str
    """The bucket's role, e.g. `backups`."""
    prefix: str
    """Key prefix, ending in `/`, e.g. `dremio/`."""
    writer: str
    """The identity that reads and writes under the prefix."""
    description: str
    expire_days: int = 0

    def __post_init__(self) -> None:
        if not self.prefix.endswith("/") or self.prefix.startswith("/") or "*" in self.prefix:
            raise ValueError(f"prefix {self.prefix!r}: a key prefix ends in '/', starts without one and has no '*'")


# Buckets that hold audit trails (job logs, S3's server access logs): kept at least the audit minimum in prod, the
# `logs` bucket under object lock. The pack's audit policies read this list from their config (make policy-config).
AUDIT_BUCKETS: tuple[str, ...] = ("logs", ACCESS_LOGS.role)

# Current objects only: `s3:GetObjectVersion` would read overwritten and deleted versions, which only a restore
# needs, and an operator's role runs restores (infra/ops/restore_objects.py), never a platform identity.
READ_OBJECT_ACTIONS = ("s3:GetObject",)
LIST_BUCKET_ACTIONS = ("s3:ListBucket", "s3:GetBucketLocation")
WRITE_OBJECT_ACTIONS = ("s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts")
WRITE_BUCKET_ACTIONS = ("s3:ListBucketMultipartUploads",)
# What an appending shipper needs: PutObject covers a multipart upload's create, parts and completion (S3's
# "Multipart upload API and permissions"); AbortMultipartUpload lets it drop an upload it gave up.
APPEND_OBJECT_ACTIONS = ("s3:PutObject", "s3:AbortMultipartUpload")


@dataclass(frozen=True)
class Identity:
    """An object-store identity and what it may do on each bucket role (absent: nothing)."""

    name: str
    description: str
    grants: tuple[tuple[str, Access], ...]
    prefixes: tuple[tuple[str, str], ...] = ()
    """(bucket role, key prefix) pairs written under a PrefixGrant; nothing else of those buckets."""

    def access(self, bucket_role: str) -> Access | None:
        return dict(self.grants).get(bucket_role)


def identity_name(role: str) -> str:
    return role.replace("_", "-")


def identities(catalog: Catalog, service_buckets: Sequence[ServiceBucket],
               prefix_grants: Sequence[PrefixGrant] = ()) -> list[Identity]:
    """Catalog roles with object-store credentials, then one writer per service bucket; a prefix grant adds its
    prefix to its writer (which must be one of these). Nothing here writes the lake's `logs` layer: only its
    put-only prefix writer does (`PrefixWriter.access == "put"`)."""
    derived = []
    for role in catalog.roles:
        if not role.storage:
            continue
        grants = tuple((layer, "write" if layer in role.writes else "read") for layer in role.readable)
        derived.append(Identity(identity_name(role.name), role.description, grants))
    writers: dict[str, list[str]] = {}
    descriptions: dict[str, str] = {}
    for bucket in service_buckets:
        writers.setdefault(bucket.writer, []).append(bucket.role)
        descriptions.setdefault(bucket.writer, bucket.description)
    for writer, roles in writers.items():
        # The log shipper only adds objects (audit trails it must not read back, rewrite or delete).
        access: Access = "append" if writer == LOG_SHIPPER else "write"
        derived.append(Identity(writer, descriptions[writer], tuple((role, access) for role in roles)))
    by_name = {identity.name: index for index, identity in enumerate(derived)}
    for grant in prefix_grants:
        if grant.writer not in by_name:
            raise ValueError(f"prefix grant {grant.bucket}/{grant.prefix}: no identity '{grant.writer}' to give it to")
        index = by_name[grant.writer]
        identity = derived[index]
        derived[index] = Identity(identity.name, identity.description, identity.grants,
                                  (*identity.prefixes, (grant.bucket, grant.prefix)))
    return derived


def bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def bucket_policy_document(identity: Identity, bucket_names: dict[str, str]) -> str:
    """The least-privilege S3 policy of one identity, as JSON (same grammar on AWS and MinIO)."""
    statements = []
    readable = [role for role, access in identity.grants if access in ("read", "write")]
    writable = [role for role, access in identity.grants if access == "write"]
    appendable = [role for role, access in identity.grants if access == "append"]
    if readable:
        statements.append(
            {
                "Sid": "ListGrantedBuckets",
                "Effect": "Allow",
                "Action": [*LIST_BUCKET_ACTIONS],
                "Resource": [bucket_arn(bucket_names[role]) for role in readable],
            }
        )
        statements.append(
            {
                "Sid": "ReadObjects",
                "Effect": "Allow",
                "Action": [*READ_OBJECT_ACTIONS],
                "Resource": [f"{bucket_arn(bucket_names[role])}/*" for role in readable],
            }
        )
    if appendable:
        statements.append(
            {
                "Sid": "AppendObjects",
                "Effect": "Allow",
                "Action": [*APPEND_OBJECT_ACTIONS],
                "Resource": [f"{bucket_arn(bucket_names[role])}/*" for role in appendable],
            }
        )
    if writable:
        statements.append(
            {
                "Sid": "WriteObjects",
                "Effect": "Allow",
                "Action": [*WRITE_OBJECT_ACTIONS],
                "Resource": [f"{bucket_arn(bucket_names[role])}/*" for role in writable],
            }
        )
        statements.append(
            {
                "Sid": "ManageUploads",
                "Effect": "Allow",
                "Action": [*WRITE_BUCKET_ACTIONS],
                "Resource": [bucket_arn(bucket_names[role]) for role in writable],
            }
        )
    statements += prefix_statements(identity, bucket_names)
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)


def prefix_statements(identity: Identity, bucket_names: dict[str, str]) -> list[dict]:
    """An identity's access under its prefixes: objects are read and written only under the prefix (and the
    prefix's own key without the slash, which S3A looks up as a file before it treats the path as a directory; S3
    answers a lookup it would not allow with 403, not 404). Listing is not narrowed by an `s3:prefix` condition:
    Dremio's S3 file system, the one such writer today, confirms a bucket it has not seen by listing one key with no
    prefix (plugins/s3/.../S3FileSystem.java `getUnknownContainer`), so the identity may list the bucket's key
    names, and reads no object outside its prefix."""
    if not identity.prefixes:
        return []
    buckets = sorted({bucket_names[role] for role, _ in identity.prefixes})
    objects = sorted({resource for role, prefix in identity.prefixes
                      for resource in (f"{bucket_arn(bucket_names[role])}/{prefix.rstrip('/')}",
                                       f"{bucket_arn(bucket_names[role])}/{prefix}*")})
    return [
        {"Sid": "ListPrefixBuckets", "Effect": "Allow", "Action": [*LIST_BUCKET_ACTIONS],
         "Resource": [bucket_arn(bucket) for bucket in buckets]},
        {"Sid": "ReadWritePrefixObjects", "Effect": "Allow",
         "Action": [*READ_OBJECT_ACTIONS, *WRITE_OBJECT_ACTIONS], "Resource": objects},
        {"Sid": "ManagePrefixUploads", "Effect": "Allow", "Action": [*WRITE_BUCKET_ACTIONS],
         "Resource": [bucket_arn(bucket) for bucket in buckets]},
    ]


def kms_policy_document(identity: Identity, key_arn: str, kms_bucket_roles: set[str]) -> str | None:
    """IAM permissions on a key the stack does not own (`storage.s3.kmsKeyArn`); None when it needs none."""
    actions = kms_actions(_strongest(identity, kms_bucket_roles))
    if not actions:
        return None
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Sid": "UseLakeKey", "Effect": "Allow", "Action": actions, "Resource": [key_arn]}],
        },
        sort_keys=True,
    )


def kms_actions(access: Access | None) -> list[str]:
    if access is None:
        return []
    actions = ["kms:Decrypt", "kms:DescribeKey"]
    if access == "write":
        actions += ["kms:Encrypt", "kms:GenerateDataKey"]
    return actions


def key_policy_document(
    partition: str, account: str, region: str, principals: dict[str, str], identities_: list[Identity],
    kms_bucket_roles: set[str], writer_roles: dict[str, str] | None = None,
) -> str:
    """The lake key's policy: the account administers the key; only the lake identities use it, through S3.

    Usage is granted here by literal principal ARN rather than in IAM policies that would embed the key's ARN, so
    the whole grant is known at preview. Administration excludes the cryptographic actions, so no IAM policy
    can widen who encrypts or decrypts with the key. `principals` gives each identity's IAM principal as
    `user/<name>` or, for a workload identity, `role/<name>`; `writer_roles` (IAM role name -> bucket role) are the
    prefix writers' roles, which write through S3 like the others.
    """
    statements: list[dict] = [
        {
            "Sid": "AccountAdministersKey",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
            # No kms:CreateGrant (kms:Create* would include it): an administrator cannot grant itself use.
            "Action": [
                "kms:CreateAlias", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
                "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource",
                "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
            ],
            "Resource": "*",
        }
    ]
    for access in ("read", "write"):
        users = sorted(
            f"arn:{partition}:iam::{account}:{principals[identity.name]}"
            for identity in identities_
            if _strongest(identity, kms_bucket_roles) == access
        )
        if access == "write":
            users = sorted([*users, *(f"arn:{partition}:iam::{account}:role/{role}"
                                      for role, bucket_role in (writer_roles or {}).items()
                                      if bucket_role in kms_bucket_roles)])
        if users:
            statements.append(
                {
                    "Sid": f"LakeIdentities{access.capitalize()}ThroughS3",
                    "Effect": "Allow",
                    "Principal": {"AWS": users},
                    "Action": kms_actions(access),
                    "Resource": "*",
                    # Only through S3 and only by callers of this account (KMS Developer Guide, conditions-kms).
                    "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com",
                                                   "kms:CallerAccount": account}},
                }
            )
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)


def _strongest(identity: Identity, kms_bucket_roles: set[str]) -> Access | None:
    accesses = {"write" if access == "append" else access for role, access in identity.grants
                if role in kms_bucket_roles}
    accesses |= {"write" for role, _ in identity.prefixes if role in kms_bucket_roles}
    return "write" if "write" in accesses else ("read" if accesses else None)


def tls_only_statement(bucket: str) -> dict:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn(bucket), f"{bucket_arn(bucket)}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def access_log_delivery_statement(access_logs_bucket: str, source_buckets: list[str], account: str) -> dict:
    """Lets S3's logging service write access logs, only for this stack's own buckets in this account: bucket names
    are global, so `aws:SourceArn` alone would also match a bucket of that name in another account
    (S3 User Guide, "Permissions for log delivery": both `aws:SourceArn` and `aws:SourceAccount`)."""
    return {
        "Sid": "AllowServerAccessLogDelivery",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"{bucket_arn(access_logs_bucket)}/*",
        "Condition": {"ArnLike": {"aws:SourceArn": [bucket_arn(name) for name in source_buckets]},
                      "StringEquals": {"aws:SourceAccount": account}},
    }


# ---- identities that write one prefix of a service bucket ----------------------------------------------------------

WEB_IDENTITY_AUDIENCE = "sts.amazonaws.com"
PREFIX_LIST_ACTIONS = ("s3:ListBucket",)
PREFIX_BUCKET_ACTIONS = ("s3:GetBucketLocation", "s3:ListBucketMultipartUploads")
PREFIX_OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
                         "s3:ListMultipartUploadParts")
# A put-only writer: new objects under its prefix and nothing else (no list, no read, no delete, no multipart).
PUT_ONLY_ACTIONS = ("s3:PutObject",)
# A prefix reader: list the keys under the prefix and read those objects; nothing else.
PREFIX_READ_ACTIONS = ("s3:GetObject",)


@dataclass(frozen=True)
class PrefixWriter:
    """An identity that reads and writes one prefix of a service bucket and nothing else, for a workload that keeps
    its backups beside another's (Elasticsearch's snapshots under `elasticsearch/` of `backups`, beside the
    database's). On MinIO a user with keys; on S3 an IAM role that the workload's Kubernetes service account
    (`namespace`/`service_account`) assumes with its projected token (IRSA): no long-lived key."""

    name: str
    bucket_role: str
    prefix: str
    description: str
    namespace: str
    service_account: str
    access: Literal["read-write", "put"] = "read-write"
    """`put`: the writer only adds objects under its prefix (PutObject), for an append-only trail such as the
    lake's `logs` layer under object lock; it never lists, reads, overwrites knowingly or deletes."""


def prefix_policy_document(writer: PrefixWriter, bucket_names: dict[str, str]) -> str:
    """The writer's S3 policy (same grammar on AWS and MinIO): list only keys under its prefix, read, write and
    delete objects only there. S3's repository clients also need the bucket's location and its multipart uploads
    (to clean up their own abandoned ones), which take no prefix condition. A put-only writer gets PutObject under
    its prefix and nothing else."""
    bucket = bucket_arn(bucket_names[writer.bucket_role])
    prefix = writer.prefix.strip("/")
    if writer.access == "put":
        return json.dumps({"Version": "2012-10-17", "Statement": [
            {"Sid": "PutUnderOwnPrefix", "Effect": "Allow", "Action": [*PUT_ONLY_ACTIONS],
             "Resource": [f"{bucket}/{prefix}/*"]}]}, sort_keys=True)
    statements = [
        {"Sid": "ListOwnPrefix", "Effect": "Allow", "Action": [*PREFIX_LIST_ACTIONS], "Resource": [bucket],
         "Condition": {"StringLike": {"s3:prefix": [f"{prefix}/*"]}}},
        {"Sid": "LocateBucketAndUploads", "Effect": "Allow", "Action": [*PREFIX_BUCKET_ACTIONS], "Resource": [bucket]},
        {"Sid": "ObjectsUnderOwnPrefix", "Effect": "Allow", "Action": [*PREFIX_OBJECT_ACTIONS],
         "Resource": [f"{bucket}/{prefix}/*"]},
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)


def prefix_reader_document(bucket: str, prefix: str) -> str:
    """Read-only access to one prefix of one bucket (same grammar on AWS and MinIO): list the keys under it, read
    those objects; no write, no delete, nothing elsewhere. What a person searching the lake's logs needs
    (infra/ops/logs_search.py prints it for the stack)."""
    arn, prefix = bucket_arn(bucket), prefix.strip("/")
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "ListUnderPrefix", "Effect": "Allow", "Action": [*PREFIX_LIST_ACTIONS], "Resource": [arn],
         "Condition": {"StringLike": {"s3:prefix": [f"{prefix}/*"]}}},
        {"Sid": "ReadUnderPrefix", "Effect": "Allow", "Action": [*PREFIX_READ_ACTIONS],
         "Resource": [f"{arn}/{prefix}/*"]},
    ]}, sort_keys=True)


def oidc_issuer(provider_arn: str) -> str:
    """The issuer host and path an IAM OIDC provider ARN names (`arn:aws:iam::<account>:oidc-provider/<issuer>`),
    the prefix of its condition keys."""
    return provider_arn.split(":oidc-provider/", 1)[1]


def role_arn(provider_arn: str, role_name: str) -> str:
    """The ARN of the IAM role `role_name` in the account (and partition) of the cluster's OIDC provider, where the
    workload roles live: a literal, known at preview, so a chart's service account annotation carries it."""
    partition, account = provider_arn.split(":")[1], provider_arn.split(":")[4]
    return f"arn:{partition}:iam::{account}:role/{role_name}"


def service_account_subject(namespace: str, service_account: str) -> str:
    """The `sub` claim of a Kubernetes service account token."""
    return f"system:serviceaccount:{namespace}:{service_account}"


def web_identity_trust_document(provider_arn: str, namespace: str, service_account: str) -> str:
    """A workload role's trust policy: only the one service account `namespace`/`service_account`, with a token for
    STS, through the cluster's OIDC provider (IRSA). StringEquals on both claims: no other service account, no
    other namespace and no other audience can take the role."""
    issuer = oidc_issuer(provider_arn)
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "ServiceAccountAssumesRole",
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                f"{issuer}:sub": service_account_subject(namespace, service_account),
                f"{issuer}:aud": WEB_IDENTITY_AUDIENCE,
            }},
        }],
    }, sort_keys=True)


# ---- which workload uses an identity ---------------------------------------------------------------------------

ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"


@dataclass(frozen=True)
class WorkloadAccount:
    """The Kubernetes service account a lake identity's workload runs as, where that workload's S3 client takes web
    identity credentials (the AWS SDK's default chain: `AWS_ROLE_ARN` and `AWS_WEB_IDENTITY_TOKEN_FILE`, which the
    EKS pod identity webhook injects into the pods of a service account annotated with `eks.amazonaws.com/role-arn`).
    On S3 with the cluster's OIDC provider such an identity is an IAM role only this account assumes, with no key;
    `client` names the client and the source that shows it reads those credentials."""

    identity: str
    namespace: str
    service_account: str
    client: str


def workload_role_arn(storage: StorageConfig, stack: StackIdentity, account: WorkloadAccount) -> str | None:
    """The role ARN a workload's service account is annotated with: on S3 with `storage.s3.oidcProviderArn`, the
    identity's role (`<namePrefix>-<stack>-<identity>`); None elsewhere (MinIO, or S3 without the provider, where the
    identity keeps keys)."""
    provider_arn = storage.s3_settings.oidc_provider_arn if storage.backend == "s3" else None
    if provider_arn is None:
        return None
    return role_arn(provider_arn, naming.physical_name(stack.name_prefix, stack.stack, account.identity))


def role_annotations(arn: str | None) -> dict[str, str]:
    """A service account's annotations for IRSA: the role it assumes, or none (keys instead)."""
    return {ROLE_ARN_ANNOTATION: arn} if arn else {}
