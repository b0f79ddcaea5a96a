"""Storage layer: `DataLake`, one bucket per lake layer plus the platform's own buckets, on MinIO or S3.

Example (inside a Pulumi program)::

    lake = DataLake("lake", LakeConfig.from_stack(config, catalog))
    pulumi.export("buckets", lake.bucket_names)

Every bucket is versioned, encrypted (SSE-KMS; SSE-S3 on S3's access-logs bucket, which S3 cannot deliver
into otherwise), and expires noncurrent versions; lake layers follow the catalog's retention. On `s3` every
bucket also gets a public access block, bucket-owner-enforced ownership, a TLS-only policy, abort of
incomplete multipart uploads and server access logging; the logs bucket carries a COMPLIANCE object lock.
Identities are least privilege, derived from the catalog (see components/storage_access.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Literal

import pulumi
import pulumi_aws as aws
import pulumi_minio as minio
import pulumi_random as random
from pydantic import BaseModel, ConfigDict, Field, model_validator

from components.base import child_options, type_token
from components.storage_access import (
    BUCKET_ROLES,
    LAKE_BUCKETS,
    Identity,
    access_log_delivery_statement,
    bucket_arn,
    bucket_policy_document,
    identities,
    key_policy_document,
    kms_policy_document,
    tls_only_statement,
)
from infra.catalog import Catalog
from infra.config import StackConfig, minio_kms_key_id
from infra.lake import bucket_name

ABORT_MULTIPART_DAYS = 7


class LakeConfig(BaseModel):
    """Everything `DataLake` needs, resolved from the stack config and the catalog."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name_prefix: str = Field(description="Prefix of physical names.")
    stack: str = Field(description="Stack name, part of physical names.")
    backend: Literal["minio", "s3"] = Field(description="Object store backend.")
    encryption: bool = Field(default=True, description="Server-side encryption on every bucket.")
    versioning: bool = Field(default=True, description="Versioning on every bucket.")
    object_lock_days: Annotated[int, Field(ge=0)] = Field(default=0, description="COMPLIANCE lock on logs, days.")
    layer_retention_days: dict[str, Annotated[int, Field(ge=0)]] = Field(
        description="Current-object expiry per lake layer (0: never)."
    )
    noncurrent_version_days: Annotated[int, Field(ge=1)] = Field(description="Noncurrent version expiry, days.")
    access_log_retention_days: Annotated[int, Field(ge=90)] = Field(default=90, description="Access-log expiry.")
    force_destroy: bool = Field(default=False, description="Allow deleting non-empty buckets.")
    protect: bool = Field(default=False, description="Protect buckets and keys from deletion.")
    minio_server: str | None = Field(default=None, description="MinIO host:port (minio backend).")
    minio_region: str = Field(default="us-east-1", description="Region MinIO reports.")
    minio_kms_key_id: str | None = Field(default=None, description="MinIO KMS key id for SSE (minio backend).")
    minio_ca_cert_file: str | None = Field(default=None, description="CA bundle for MinIO's TLS certificate.")
    kms_key_arn: str | None = Field(default=None, description="Existing KMS key (s3); None creates one.")
    kms_deletion_window_days: Annotated[int, Field(ge=7, le=30)] = Field(default=30, description="KMS deletion wait.")

    @model_validator(mode="after")
    def _rules(self) -> LakeConfig:
        missing = [layer for layer in LAKE_BUCKETS if layer not in self.layer_retention_days]
        if missing:
            raise ValueError(f"layer_retention_days lacks {', '.join(missing)}")
        if self.backend == "minio" and not (self.minio_server and self.minio_kms_key_id):
            raise ValueError("backend `minio` needs `minio_server` and `minio_kms_key_id`")
        logs_days = self.layer_retention_days["logs"]
        if self.object_lock_days and logs_days and logs_days < self.object_lock_days:
            raise ValueError(
                f"the logs layer expires after {logs_days} days but is locked for {self.object_lock_days}; "
                "raise lake.layers.logs.retention_days in the catalog or lower storage.objectLockDays"
            )
        if self.object_lock_days and not self.versioning:
            raise ValueError("object lock needs versioning")
        return self

    @classmethod
    def from_stack(cls, config: StackConfig, catalog: Catalog) -> LakeConfig:
        storage = config.storage
        minio_settings = storage.minio
        s3_settings = storage.s3
        return cls(
            name_prefix=config.name_prefix,
            stack=config.stack,
            backend=storage.backend,
            encryption=storage.encryption,
            versioning=storage.versioning,
            object_lock_days=storage.object_lock_days,
            layer_retention_days={layer: catalog.lake.layer(layer).retention_days for layer in LAKE_BUCKETS},
            noncurrent_version_days=catalog.lake.noncurrent_version_days,
            access_log_retention_days=storage.access_log_retention_days,
            force_destroy=storage.force_destroy,
            protect=config.protect,
            minio_server=minio_settings.server if minio_settings else None,
            minio_region=minio_settings.region if minio_settings else "us-east-1",
            minio_kms_key_id=minio_kms_key_id(config) if minio_settings else None,
            minio_ca_cert_file=minio_settings.ca_cert_file if minio_settings else None,
            kms_key_arn=s3_settings.kms_key_arn if s3_settings else None,
            kms_deletion_window_days=s3_settings.kms_deletion_window_days if s3_settings else 30,
        )

    def bucket_names(self) -> dict[str, str]:
        return {role: bucket_name(self.name_prefix, self.stack, role) for role in BUCKET_ROLES}

    def retention_days(self, role: str) -> int:
        if role == "access-logs":
            return self.access_log_retention_days
        return self.layer_retention_days.get(role, 0)


@dataclass(frozen=True)
class LakeAccess:
    """What a consumer layer takes from `DataLake`: bucket names by role and each identity's keys (secret)."""

    bucket_names: pulumi.Input[dict[str, str]]
    credentials: pulumi.Input[dict[str, dict[str, str]]]
    """Identity -> {access_key_id, secret_access_key}; each layer uses the identities the catalog gives it."""

    @classmethod
    def from_lake(cls, lake: DataLake) -> LakeAccess:
        return cls(bucket_names=lake.bucket_names, credentials=lake.credentials)


class DataLake(pulumi.ComponentResource):
    """The lake's buckets, their security companions and least-privilege identities."""

    bucket_names: pulumi.Output[dict[str, str]]
    bucket_arns: pulumi.Output[dict[str, str]]
    endpoint: pulumi.Output[str]
    credentials: pulumi.Output[dict[str, dict[str, str]]]

    def __init__(
        self,
        name: str,
        config: LakeConfig,
        catalog: Catalog,
        minio_credentials: tuple[pulumi.Input[str], pulumi.Input[str]] | None = None,
        opts: pulumi.ResourceOptions | None = None,
        ca_file: pulumi.Input[str] | None = None,
    ) -> None:
        super().__init__(type_token("storage", "DataLake"), name, None, opts)
        self._name = name
        self._config = config
        # The runtime's CA bundle file (decision 0001) wins over a CA file named in the stack config.
        self._ca_file = ca_file if ca_file is not None else config.minio_ca_cert_file
        names = config.bucket_names()
        self._identities = identities(catalog)
        if config.backend == "s3":
            buckets, credentials = self._declare_s3(names)
            endpoint: pulumi.Input[str] = "https://s3.amazonaws.com"
        else:
            buckets, credentials = self._declare_minio(names, minio_credentials)
            endpoint = f"https://{config.minio_server}"
        self.buckets = buckets
        self.bucket_names = pulumi.Output.from_input(names)
        self.bucket_arns = pulumi.Output.from_input({role: bucket_arn(bucket) for role, bucket in names.items()})
        self.endpoint = pulumi.Output.from_input(endpoint)
        self.credentials = pulumi.Output.secret(credentials)
        self.register_outputs(
            {
                "bucket_names": self.bucket_names,
                "bucket_arns": self.bucket_arns,
                "endpoint": self.endpoint,
                "credentials": self.credentials,
            }
        )

    def _child(self, **extra) -> pulumi.ResourceOptions:
        return child_options(self, **extra)

    def _data_bearing(self, **extra) -> pulumi.ResourceOptions:
        return self._child(protect=self._config.protect, **extra)

    # ---- S3 -------------------------------------------------------------------------------------

    def _declare_s3(self, names: dict[str, str]) -> tuple[dict[str, aws.s3.Bucket], dict]:
        config, name = self._config, self._name
        key: aws.kms.Key | None = None
        key_arn: pulumi.Input[str]
        if config.kms_key_arn:
            key_arn = config.kms_key_arn
        else:
            key = aws.kms.Key(
                f"{name}-kms",
                description=f"SSE-KMS key of the {config.stack} data lake",
                enable_key_rotation=True,
                deletion_window_in_days=config.kms_deletion_window_days,
                tags={"dataplatform:role": "lake-key"},
                opts=self._data_bearing(),
            )
            aws.kms.Alias(
                f"{name}-kms-alias",
                name=f"alias/{config.name_prefix}-{config.stack}-lake",
                target_key_id=key.key_id,
                opts=self._child(),
            )
            key_arn = key.arn
        buckets = {role: self._s3_bucket(role, bucket, key_arn) for role, bucket in names.items()}
        logged = [bucket for role, bucket in names.items() if role != "access-logs"]
        for role, bucket in buckets.items():
            self._s3_policy(role, bucket, names, logged)
            if role != "access-logs":
                aws.s3.BucketLogging(
                    f"{name}-{role}-logging",
                    bucket=bucket.id,
                    target_bucket=buckets["access-logs"].id,
                    target_prefix=f"{role}/",
                    opts=self._child(),
                )
        kms_roles = {role for role in names if role != "access-logs"} if config.encryption else set()
        users: dict[str, aws.iam.User] = {}
        credentials = {}
        for identity in self._identities:
            users[identity.name], credentials[identity.name] = self._iam_user(
                identity, names, None if key else key_arn, kms_roles
            )
        if key is not None and kms_roles:
            self._key_policy(key, users, kms_roles)
        return buckets, credentials

    def _key_policy(self, key: aws.kms.Key, users: dict[str, aws.iam.User], kms_roles: set[str]) -> None:
        caller = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self))
        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self))
        user_names = {name: self._physical(name) for name in users}
        policy = pulumi.Output.all(partition.partition, caller.account_id, region.region).apply(
            lambda values: key_policy_document(values[0], values[1], values[2], user_names, self._identities, kms_roles)
        )
        # KMS rejects a key policy naming principals that do not exist yet: the users come first.
        aws.kms.KeyPolicy(
            f"{self._name}-kms-policy",
            key_id=key.key_id,
            policy=policy,
            opts=self._child(depends_on=list(users.values())),
        )

    def _s3_bucket(self, role: str, bucket_name_: str, key_arn: pulumi.Input[str]) -> aws.s3.Bucket:
        config, name = self._config, f"{self._name}-{role}"
        locked = role == "logs" and config.object_lock_days > 0
        tags = {"dataplatform:role": role}
        if role in LAKE_BUCKETS:
            tags["dataplatform:layer"] = role
        if role == "access-logs":
            tags["dataplatform:policy-exemptions"] = (
                "aws-s3-bucket-require-kms-encryption aws-s3-bucket-enable-object-lock"
            )
            tags["dataplatform:exemption-reason"] = (
                "S3 cannot deliver server access logs into a bucket with SSE-KMS default encryption or object lock"
            )
        bucket = aws.s3.Bucket(
            name,
            bucket=bucket_name_,
            force_destroy=config.force_destroy,
            object_lock_enabled=locked or None,
            tags=tags,
            opts=self._data_bearing(),
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=self._child(),
        )
        aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=self._child(),
        )
        if config.versioning:
            aws.s3.BucketVersioning(
                f"{name}-versioning",
                bucket=bucket.id,
                versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
                opts=self._child(),
            )
        if config.encryption:
            by_default = (
                aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="AES256"
                )
                if role == "access-logs"
                else aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="aws:kms", kms_master_key_id=key_arn
                )
            )
            aws.s3.BucketServerSideEncryptionConfiguration(
                f"{name}-encryption",
                bucket=bucket.id,
                rules=[
                    aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                        apply_server_side_encryption_by_default=by_default,
                        bucket_key_enabled=role != "access-logs",
                    )
                ],
                opts=self._child(),
            )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=self._s3_lifecycle_rules(role),
            opts=self._child(),
        )
        if locked:
            aws.s3.BucketObjectLockConfiguration(
                f"{name}-object-lock",
                bucket=bucket.id,
                object_lock_enabled="Enabled",
                rule=aws.s3.BucketObjectLockConfigurationRuleArgs(
                    default_retention=aws.s3.BucketObjectLockConfigurationRuleDefaultRetentionArgs(
                        mode="COMPLIANCE", days=config.object_lock_days
                    )
                ),
                opts=self._child(),
            )
        return bucket

    def _s3_lifecycle_rules(self, role: str) -> list[aws.s3.BucketLifecycleConfigurationRuleArgs]:
        whole_bucket = aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix="")
        rules = [
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-noncurrent-versions",
                status="Enabled",
                filter=whole_bucket,
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=self._config.noncurrent_version_days
                ),
            ),
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="abort-incomplete-multipart-uploads",
                status="Enabled",
                filter=whole_bucket,
                abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                    days_after_initiation=ABORT_MULTIPART_DAYS
                ),
            ),
        ]
        days = self._config.retention_days(role)
        if days:
            rules.append(
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-current-objects",
                    status="Enabled",
                    filter=whole_bucket,
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=days),
                )
            )
        return rules

    def _s3_policy(self, role: str, bucket: aws.s3.Bucket, names: dict[str, str], logged: list[str]) -> None:
        statements = [tls_only_statement(names[role])]
        if role == "access-logs":
            statements.append(access_log_delivery_statement(names[role], logged))
        aws.s3.BucketPolicy(
            f"{self._name}-{role}-policy",
            bucket=bucket.id,
            policy=json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True),
            opts=self._child(),
        )

    def _physical(self, identity_name: str) -> str:
        return f"{self._config.name_prefix}-{self._config.stack}-{identity_name}"

    def _iam_user(
        self, identity: Identity, names: dict[str, str], byo_key_arn: str | None, kms_roles: set[str]
    ) -> tuple[aws.iam.User, dict[str, pulumi.Output[str]]]:
        name = f"{self._name}-{identity.name}"
        user = aws.iam.User(
            name,
            name=self._physical(identity.name),
            tags={"dataplatform:identity": identity.name},
            opts=self._child(),
        )
        aws.iam.UserPolicy(
            f"{name}-s3",
            user=user.name,
            policy=bucket_policy_document(identity, names),
            opts=self._child(),
        )
        kms_document = kms_policy_document(identity, byo_key_arn, kms_roles) if byo_key_arn else None
        if kms_document is not None:
            aws.iam.UserPolicy(f"{name}-kms", user=user.name, policy=kms_document, opts=self._child())
        access_key = aws.iam.AccessKey(f"{name}-key", user=user.name, opts=self._child())
        return user, {"access_key_id": access_key.id, "secret_access_key": pulumi.Output.secret(access_key.secret)}

    # ---- MinIO ----------------------------------------------------------------------------------

    def _declare_minio(
        self, names: dict[str, str], minio_credentials: tuple[pulumi.Input[str], pulumi.Input[str]] | None
    ) -> tuple[dict[str, minio.S3Bucket], dict]:
        config, name = self._config, self._name
        user, password = minio_credentials if minio_credentials else (None, None)
        provider = minio.Provider(
            f"{name}-minio",
            minio_server=config.minio_server,
            minio_region=config.minio_region,
            minio_ssl=True,
            minio_cacert_file=self._ca_file,
            minio_user=user,
            minio_password=pulumi.Output.secret(password) if password is not None else None,
            opts=self._child(),
        )
        with_provider = {"provider": provider}
        buckets = {role: self._minio_bucket(role, bucket, with_provider) for role, bucket in names.items()}
        credentials = {
            identity.name: self._minio_user(identity, names, with_provider) for identity in self._identities
        }
        return buckets, credentials

    def _minio_bucket(self, role: str, bucket_name_: str, with_provider: dict) -> minio.S3Bucket:
        config, name = self._config, f"{self._name}-{role}"
        bucket = minio.S3Bucket(
            name,
            bucket=bucket_name_,
            acl="private",
            force_destroy=config.force_destroy,
            object_locking=(role == "logs" and config.object_lock_days > 0) or None,
            opts=self._data_bearing(**with_provider),
        )
        if config.versioning:
            minio.S3BucketVersioning(
                f"{name}-versioning",
                bucket=bucket.bucket,
                versioning_configuration=minio.S3BucketVersioningVersioningConfigurationArgs(status="Enabled"),
                opts=self._child(**with_provider),
            )
        if config.encryption:
            minio.S3BucketServerSideEncryption(
                f"{name}-encryption",
                bucket=bucket.bucket,
                encryption_type="aws:kms",
                kms_key_id=config.minio_kms_key_id,
                opts=self._child(**with_provider),
            )
        rules = [
            minio.IlmPolicyRuleArgs(
                id="expire-noncurrent-versions",
                status="Enabled",
                noncurrent_version_expiration_days=config.noncurrent_version_days,
            )
        ]
        days = config.retention_days(role)
        if days:
            rules.append(minio.IlmPolicyRuleArgs(id="expire-current-objects", status="Enabled", expiration=f"{days}d"))
        minio.IlmPolicy(f"{name}-lifecycle", bucket=bucket.bucket, rules=rules, opts=self._child(**with_provider))
        return bucket

    def _minio_user(
        self, identity: Identity, names: dict[str, str], with_provider: dict
    ) -> dict[str, pulumi.Output[str]]:
        config, name = self._config, f"{self._name}-{identity.name}"
        secret = random.RandomPassword(f"{name}-secret", length=40, special=False, opts=self._child())
        user_name = f"{config.name_prefix}-{config.stack}-{identity.name}"
        user = minio.IamUser(
            name,
            name=user_name,
            secret=secret.result,
            opts=self._child(additional_secret_outputs=["secret"], **with_provider),
        )
        policy = minio.IamPolicy(
            f"{name}-policy",
            name=user_name,
            policy=bucket_policy_document(identity, names),
            opts=self._child(**with_provider),
        )
        minio.IamUserPolicyAttachment(
            f"{name}-policy-attachment",
            user_name=user.name,
            policy_name=policy.name,
            opts=self._child(**with_provider),
        )
        return {"access_key_id": user.name, "secret_access_key": pulumi.Output.secret(secret.result)}
