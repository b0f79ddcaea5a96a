"""Compliant baseline stacks in the engine's wire form, for the policy tests and the gate tests.

`s3_stack()` is what the storage layer declares on `s3` in prod, `minio_stack()` what it declares on `minio` in
dev. With `preview=True`, every value a provider computes (bucket ids that companions reference, the KMS key's
ARN) is the engine's unknown sentinel, as in `pulumi preview`. Tests mutate copies of these baselines.
"""

from __future__ import annotations

import copy
import datetime
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infra.offline.harness import UNKNOWN, RecordedResource, Recording
from infra.offline.role_matrix import PRINCIPAL_KEYS

PROJECT = "dataplatform"
PREFIX = "dataplatform"
ROLES = ("bronze", "silver", "gold", "logs", "access-logs", "airbyte", "dremio-store", "backups")
AUDIT_ROLES = ("logs", "access-logs")
KEY_ARN = "arn:aws:kms:eu-west-1:111122223333:key/0123456789abcdef0123456789abcdef"
ACCESS_LOGS_REASON = "S3 cannot deliver server access logs into a bucket with SSE-KMS default encryption or object lock"
# The access-logs bucket's exemptions as the stack's allow-list gives them (judged on policy_eval's date).
ACCESS_LOGS_EXEMPTIONS = [
    {"policy": policy, "resource": "aws:s3/bucket:Bucket::lake-access-logs", "reason": ACCESS_LOGS_REASON,
     "expires": "2027-06-30"}
    for policy in ("aws-s3-bucket-require-kms-encryption", "aws-s3-bucket-enable-object-lock")
]
COMPONENT = "dataplatform:storage:DataLake"
CONFIG_DIR = Path(__file__).resolve().parents[2] / "policies" / "config"
# The date the gate tests judge exemptions on (the program's own tests use the real config with this date too).
EVALUATION_DATE = datetime.date(2027, 1, 15)
ALLOW_LIST = "pack-exemption-require-allow-list"


# What prod's allow-list gives `s3_stack()`: the access-logs bucket's exemptions, every writer's key an exception.
# The day the fixture's access keys were issued (the users' `dataplatform:keys-issued` tag): 45 days before the
# evaluation date, within the 90 the pack allows.
KEYS_ISSUED = "2026-12-01"
OIDC_PROVIDER = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE"


def web_identity_trust(provider: str, namespace: str, service_account: str) -> str:
    """A trust policy written out by hand (not by the program's helper): one service account, a token for STS."""
    issuer = provider.split(":oidc-provider/", 1)[1]
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "ServiceAccountAssumesRole", "Effect": "Allow", "Principal": {"Federated": provider},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                                       f"{issuer}:aud": "sts.amazonaws.com"}}}]})


S3_ALLOW_LIST: dict[str, list[dict[str, str]]] = {
    "exemptions": ACCESS_LOGS_EXEMPTIONS,
    "exceptions": [{"resource": f"aws:iam/accessKey:AccessKey::lake-{role}-writer-key",
                    "reason": "the fixture's writer has no workload identity", "expires": "2027-06-30"}
                   for role in ROLES],
}


def fixture_config(stack: str, allow_list: dict[str, list[dict[str, str]]] | None = None,
                   config_dir: Path = CONFIG_DIR) -> dict[str, Any]:
    """`<config_dir>/<stack>.json` with the allow-list naming the fixtures' resources instead of the program's:
    `allow_list`, by default for prod `S3_ALLOW_LIST` (the access-logs bucket exempt as in the program, every
    writer's access key an exception) and for dev none; without the role-to-layer matrix, which names the program's
    principals (infra/offline/role_matrix.py); the stack's accounts stay (the fixtures name prod's)."""
    document = json.loads((config_dir / f"{stack}.json").read_text())
    allow_list = allow_list if allow_list is not None else S3_ALLOW_LIST if stack == "prod" else {}
    exemptions, exceptions = allow_list.get("exemptions", []), allow_list.get("exceptions", [])
    result: dict[str, Any] = {}
    for name, entry in document.items():
        if isinstance(entry, dict):
            entry = {key: value for key, value in entry.items()
                     if key not in ("exemptions", "exceptions", *PRINCIPAL_KEYS.get(name, ()))}
            if not entry:
                continue
        result[name] = entry
    result[ALLOW_LIST] = {"exemptions": exemptions, "exceptions": exceptions}
    for entry in exemptions:
        own = result.setdefault(entry["policy"], {})
        if isinstance(own, str):
            own = result[entry["policy"]] = {"enforcementLevel": own}
        own.setdefault("exemptions", []).append(entry)
    return result


def write_fixture_config(stack: str, folder: Path) -> Path:
    """`fixture_config(stack)` as a file the gate reads, `<folder>/<stack>.json`."""
    path = folder / f"{stack}.json"
    path.write_text(json.dumps(fixture_config(stack), indent=2))
    return path


class Stack:
    def __init__(self, stack: str, preview: bool) -> None:
        self.recording = Recording(project=PROJECT, stack=stack, preview=preview)
        self.stack = stack
        self.preview = preview
        self.component = self.add(COMPONENT, "lake", {}, custom=False, parent="")

    def urn(self, type_: str, name: str) -> str:
        return f"urn:pulumi:{self.stack}::{PROJECT}::{COMPONENT}${type_}::{name}"

    def add(
        self,
        type_: str,
        name: str,
        inputs: dict,
        *,
        custom: bool = True,
        parent: str | None = None,
        deps: dict[str, list[RecordedResource]] | None = None,
        protect: bool = False,
        provider: RecordedResource | None = None,
    ) -> RecordedResource:
        deps = deps or {}
        property_dependencies = {key: [] for key in inputs}
        for key, resources in deps.items():
            property_dependencies[key] = [resource.urn for resource in resources]
        dependencies = sorted({urn for urns in property_dependencies.values() for urn in urns})
        urn = f"urn:pulumi:{self.stack}::{PROJECT}::{type_}::{name}" if parent == "" else self.urn(type_, name)
        resource = RecordedResource(
            urn=urn,
            type=type_,
            name=name,
            custom=custom,
            parent=self.component.urn if parent is None else parent,
            dependencies=dependencies,
            property_dependencies=property_dependencies,
            protect=protect,
            inputs=inputs,
            provider=f"{provider.urn}::{provider.name}-id" if provider else "",
            ignore_changes=[],
            aliases=[],
            additional_secret_outputs=[],
            delete_before_replace=False,
            retain_on_delete=False,
            id="" if self.preview else f"{name}-id",
        )
        self.recording.resources.append(resource)
        return resource

    def computed(self, value: str) -> str:
        return UNKNOWN if self.preview else value


def physical(stack: str, role: str) -> str:
    return f"{PREFIX}-{stack}-{role}"


def tls_policy(bucket: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )


def identity_policy(bucket: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [f"arn:aws:s3:::{bucket}"]},
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject"],
                    "Resource": [f"arn:aws:s3:::{bucket}/*"],
                },
            ],
        }
    )


def s3_stack(preview: bool = False, stack: str = "prod") -> Recording:
    """The compliant prod S3 layout: 8 buckets with every companion, a KMS key and one identity per bucket."""
    s = Stack(stack, preview)
    # A key policy of its own (a key without one gets AWS's default: the account root with kms:*).
    key_policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "AccountAdministersKey", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": ["kms:Describe*", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"], "Resource": "*"}]}
    key = s.add("aws:kms/key:Key", "lake-kms", {"enableKeyRotation": True, "deletionWindowInDays": 30.0,
                                                "policy": json.dumps(key_policy)}, protect=True)
    s.add(
        "aws:kms/alias:Alias",
        "lake-kms-alias",
        {"name": f"alias/{PREFIX}-{stack}-lake", "targetKeyId": s.computed("k")},
        deps={"targetKeyId": [key]},
    )
    key_arn = s.computed(KEY_ARN)
    buckets = {}
    for role in ROLES:
        tags = {"dataplatform:role": role}
        inputs = {"bucket": physical(stack, role), "forceDestroy": False, "tags": tags}
        if role == "logs":
            inputs["objectLockEnabled"] = True
        buckets[role] = s.add("aws:s3/bucket:Bucket", f"lake-{role}", inputs, protect=True)
    for role, bucket in buckets.items():
        name, bucket_id = f"lake-{role}", s.computed(physical(stack, role))
        on_bucket = {"bucket": [bucket]}
        by_default = (
            {"sseAlgorithm": "AES256"}
            if role == "access-logs"
            else {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key_arn}
        )
        s.add(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            f"{name}-encryption",
            {
                "bucket": bucket_id,
                "rules": [{"applyServerSideEncryptionByDefault": by_default, "bucketKeyEnabled": True}],
            },
            deps={"bucket": [bucket], **({} if role == "access-logs" else {"rules": [key]})},
        )
        s.add(
            "aws:s3/bucketVersioning:BucketVersioning",
            f"{name}-versioning",
            {"bucket": bucket_id, "versioningConfiguration": {"status": "Enabled"}},
            deps=on_bucket,
        )
        s.add(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            f"{name}-public-access-block",
            {
                "bucket": bucket_id,
                "blockPublicAcls": True,
                "blockPublicPolicy": True,
                "ignorePublicAcls": True,
                "restrictPublicBuckets": True,
            },
            deps=on_bucket,
        )
        s.add(
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
            f"{name}-ownership",
            {"bucket": bucket_id, "rule": {"objectOwnership": "BucketOwnerEnforced"}},
            deps=on_bucket,
        )
        rules = [
            {
                "id": "expire-noncurrent-versions",
                "status": "Enabled",
                "filter": {"prefix": ""},
                "noncurrentVersionExpiration": {"noncurrentDays": 30.0},
            },
            {
                "id": "abort-incomplete-multipart-uploads",
                "status": "Enabled",
                "filter": {"prefix": ""},
                "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7.0},
            },
        ]
        if role in AUDIT_ROLES:
            rules.append(
                {
                    "id": "expire-current-objects",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "expiration": {"days": 90.0},
                }
            )
        s.add(
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
            f"{name}-lifecycle",
            {"bucket": bucket_id, "rules": rules},
            deps=on_bucket,
        )
        s.add(
            "aws:s3/bucketPolicy:BucketPolicy",
            f"{name}-policy",
            {"bucket": bucket_id, "policy": tls_policy(physical(stack, role))},
            deps=on_bucket,
        )
        if role != "access-logs":
            s.add(
                "aws:s3/bucketLogging:BucketLogging",
                f"{name}-logging",
                {
                    "bucket": bucket_id,
                    "targetBucket": s.computed(physical(stack, "access-logs")),
                    "targetPrefix": f"{role}/",
                },
                deps={"bucket": [bucket], "targetBucket": [buckets["access-logs"]]},
            )
        if role == "logs":
            s.add(
                "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
                f"{name}-object-lock",
                {
                    "bucket": bucket_id,
                    "objectLockEnabled": "Enabled",
                    "rule": {"defaultRetention": {"mode": "COMPLIANCE", "days": 90.0}},
                },
                deps=on_bucket,
            )
        user = s.add("aws:iam/user:User", f"lake-{role}-writer", {"name": f"{PREFIX}-{stack}-{role}-writer",
                                                                  "tags": {"dataplatform:keys-issued": KEYS_ISSUED}})
        s.add(
            "aws:iam/userPolicy:UserPolicy",
            f"lake-{role}-writer-s3",
            {"user": s.computed(user.inputs["name"]), "policy": identity_policy(physical(stack, role))},
            deps={"user": [user]},
        )
        s.add(
            "aws:iam/accessKey:AccessKey",
            f"lake-{role}-writer-key",
            {"user": s.computed(user.inputs["name"])},
            deps={"user": [user]},
        )
    # A workload identity: the role only the log shipper's service account assumes (IRSA), with no key.
    workload = s.add("aws:iam/role:Role", "lake-log-shipper", {
        "name": f"{PREFIX}-{stack}-log-shipper", "assumeRolePolicy": web_identity_trust(OIDC_PROVIDER, "dp-logs",
                                                                                        "fluent-bit")})
    s.add("aws:iam/rolePolicy:RolePolicy", "lake-log-shipper-s3",
          {"role": s.computed(workload.inputs["name"]), "policy": identity_policy(physical(stack, "logs"))},
          deps={"role": [workload]})
    return s.recording


def minio_stack(preview: bool = False, stack: str = "dev") -> Recording:
    """The compliant dev MinIO layout: an explicit TLS provider, 8 buckets with companions, one user per bucket."""
    s = Stack(stack, preview)
    provider = s.add(
        "pulumi:providers:minio",
        "lake-minio",
        {"minioServer": "minio.dp-storage.svc.cluster.local:9000", "minioSsl": "true", "minioRegion": "us-east-1"},
    )
    for role in ROLES:
        name = f"lake-{role}"
        bucket = s.add(
            "minio:index/s3Bucket:S3Bucket",
            name,
            {"bucket": physical(stack, role), "acl": "private", "forceDestroy": False},
            protect=True,
            provider=provider,
        )
        bucket_name = s.computed(physical(stack, role))
        on_bucket = {"bucket": [bucket]}
        s.add(
            "minio:index/s3BucketVersioning:S3BucketVersioning",
            f"{name}-versioning",
            {"bucket": bucket_name, "versioningConfiguration": {"status": "Enabled"}},
            deps=on_bucket,
            provider=provider,
        )
        s.add(
            "minio:index/s3BucketServerSideEncryption:S3BucketServerSideEncryption",
            f"{name}-encryption",
            {"bucket": bucket_name, "encryptionType": "aws:kms", "kmsKeyId": "dataplatform-dev-sse"},
            deps=on_bucket,
            provider=provider,
        )
        rules = [{"id": "expire-noncurrent-versions", "status": "Enabled", "noncurrentVersionExpirationDays": 30.0}]
        if role in AUDIT_ROLES:
            rules.append({"id": "expire-current-objects", "status": "Enabled", "expiration": "90d"})
        s.add(
            "minio:index/ilmPolicy:IlmPolicy",
            f"{name}-lifecycle",
            {"bucket": bucket_name, "rules": rules},
            deps=on_bucket,
            provider=provider,
        )
        user = s.add(
            "minio:index/iamUser:IamUser",
            f"{name}-writer",
            {"name": f"{PREFIX}-{stack}-{role}-writer"},
            provider=provider,
        )
        policy = s.add(
            "minio:index/iamPolicy:IamPolicy",
            f"{name}-writer-policy",
            {"name": f"{PREFIX}-{stack}-{role}-writer", "policy": identity_policy(physical(stack, role))},
            provider=provider,
        )
        s.add(
            "minio:index/iamUserPolicyAttachment:IamUserPolicyAttachment",
            f"{name}-writer-attachment",
            {"userName": s.computed(user.inputs["name"]), "policyName": s.computed(policy.inputs["name"])},
            deps={"userName": [user], "policyName": [policy]},
            provider=provider,
        )
    return s.recording


def mutated(recording: Recording) -> Recording:
    return copy.deepcopy(recording)


def keys_issued_on(recording: Recording, day: str) -> Recording:
    """A copy whose IAM users say their access keys were issued on `day`."""
    copied = mutated(recording)
    for resource in copied.resources:
        if resource.type == "aws:iam/user:User":
            resource.inputs["tags"]["dataplatform:keys-issued"] = day
    return copied


def without(recording: Recording, name: str) -> Recording:
    """A copy without the resource named `name` (a missing companion)."""
    copied = mutated(recording)
    copied.resources = [resource for resource in copied.resources if resource.name != name]
    if len(copied.resources) != len(recording.resources) - 1:
        raise KeyError(f"no resource named {name!r}")
    return copied


def urn_of(recording: Recording, name: str) -> str:
    return recording.named(name).urn


def set_input(name: str, path: str, value: Any) -> Callable[[Recording], Recording]:
    def mutate(recording: Recording) -> Recording:
        copied = mutated(recording)
        target = copied.named(name).inputs
        *parents, last = path.split(".")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is None:
            del target[last]
        else:
            target[last] = value
        return copied

    return mutate


def unprotect(name: str) -> Callable[[Recording], Recording]:
    def mutate(recording: Recording) -> Recording:
        copied = mutated(recording)
        copied.named(name).protect = False
        return copied

    return mutate
