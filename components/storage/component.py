"""Storage layer: `DataLake`, one bucket per lake layer plus the platform's own buckets, on MinIO or S3.

Example (inside a Pulumi program)::

    # config: infra.model.config.StackConfig; SERVICE_BUCKETS, WORKLOAD_ACCOUNTS: components/platform.py
    lake = DataLake("lake", config.storage, catalog, config.identity, service_buckets=SERVICE_BUCKETS,
                    workload_accounts=WORKLOAD_ACCOUNTS)
    pulumi.export("buckets", lake.bucket_names)

Inputs: the stack config's `storage` section, the catalog (layer retention, identities) and the stack's identity
(physical names, protection).

Every bucket is versioned, encrypted (SSE-KMS; SSE-S3 on S3's access-logs bucket, which S3 cannot deliver
into otherwise), and expires noncurrent versions; lake layers follow the catalog's retention. On `s3` every
bucket also gets a public access block, bucket-owner-enforced ownership, a TLS-only policy, abort of
incomplete multipart uploads and server access logging; the logs bucket carries a COMPLIANCE object lock.
Identities are least privilege, derived from the catalog (see components/storage/access.py). On S3 with the
cluster's OIDC provider an identity whose workload takes web identity credentials (`workload_accounts`) is an IAM
role only that workload's service account assumes; every other identity is an IAM user with one access key,
replaced whenever `storage.s3.accessKeysIssued` changes (decision 0052).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_minio as minio
import pulumi_random as random

from components.kit.base import child_options, type_token
from components.storage.access import (
    ACCESS_LOGS,
    LAKE_BUCKETS,
    Identity,
    PrefixGrant,
    PrefixWriter,
    ServiceBucket,
    WorkloadAccount,
    access_log_delivery_statement,
    bucket_arn,
    bucket_policy_document,
    bucket_roles,
    identities,
    key_policy_document,
    kms_policy_document,
    prefix_policy_document,
    tls_only_statement,
    web_identity_trust_document,
)
from components.storage.config import MinioSettings, StorageConfig
from infra.model import naming
from infra.model.catalog import Catalog
from infra.model.naming import bucket_name
from infra.model.sections import StackIdentity

ABORT_MULTIPART_DAYS = 7
# The day an IAM user's access key was issued, on the user (an access key takes no tags): the policy pack judges the
# key's age from it (aws-iam-access-key-configure-rotation).
KEYS_ISSUED_TAG = "dataplatform:keys-issued"


def bucket_names(stack: StackIdentity, service_buckets: Sequence[ServiceBucket]) -> dict[str, str]:
    """Every bucket of the stack by role: `<namePrefix>-<stack>-<role>`."""
    return {role: bucket_name(stack.name_prefix, stack.stack, role) for role in bucket_roles(service_buckets)}


def retention_days(role: str, config: StorageConfig, catalog: Catalog) -> int:
    """Days after which a bucket's current objects expire (0: never): the catalog's per layer, the config's for
    access logs, never for the platform's own buckets."""
    if role == ACCESS_LOGS.role:
        return config.access_log_retention_days
    if role in LAKE_BUCKETS:
        return catalog.lake.layer(role).retention_days
    return 0


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
    role_arns: pulumi.Output[dict[str, str]]
    """Prefix writer or workload identity -> the IAM role its service account assumes (S3 with the cluster's OIDC
    provider only; elsewhere they have credentials)."""

    def __init__(
        self,
        name: str,
        config: StorageConfig,
        catalog: Catalog,
        stack: StackIdentity,
        service_buckets: Sequence[ServiceBucket],
        minio_credentials: tuple[pulumi.Input[str], pulumi.Input[str]] | None = None,
        opts: pulumi.ResourceOptions | None = None,
        ca_file: pulumi.Input[str] | None = None,
        prefix_writers: Sequence[PrefixWriter] = (),
        prefix_grants: Sequence[PrefixGrant] = (),
        workload_accounts: Sequence[WorkloadAccount] = (),
    ) -> None:
        super().__init__(type_token("storage", "DataLake"), name, None, opts)
        self._prefix_writers = tuple(prefix_writers)
        self._workload_accounts = {account.identity: account for account in workload_accounts}
        self._role_arns: dict[str, pulumi.Output[str]] = {}
        self._name = name
        self._config = config
        self._catalog = catalog
        self._stack = stack
        names = bucket_names(stack, service_buckets)
        self._prefix_grants = tuple(prefix_grants)
        self._identities = identities(catalog, service_buckets, self._prefix_grants)
        if config.minio is None:  # backend `s3` (the model gives backend `minio` its block)
            buckets, credentials = self._declare_s3(names)
            endpoint: pulumi.Input[str] = "https://s3.amazonaws.com"
        else:
            # The runtime's CA bundle file (decision 0001) wins over a CA file named in the stack config.
            minio_ca_file = ca_file if ca_file is not None else config.minio.ca_cert_file
            buckets, credentials = self._declare_minio(config.minio, names, minio_credentials, minio_ca_file)
            endpoint = f"https://{config.minio.server}"
        self.buckets = buckets
        self.bucket_names = pulumi.Output.from_input(names)
        self.bucket_arns = pulumi.Output.from_input({role: bucket_arn(bucket) for role, bucket in names.items()})
        self.endpoint = pulumi.Output.from_input(endpoint)
        self.credentials = pulumi.Output.secret(credentials)
        self.role_arns = pulumi.Output.from_input(self._role_arns)
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
        return self._child(protect=self._stack.protect, **extra)

    # ---- S3 -------------------------------------------------------------------------------------

    def _declare_s3(self, names: dict[str, str]) -> tuple[dict[str, aws.s3.Bucket], dict]:
        config, name, stack = self._config, self._name, self._stack
        settings = config.s3_settings
        key: aws.kms.Key | None = None
        key_arn: pulumi.Input[str]
        if settings.kms_key_arn:
            key_arn = settings.kms_key_arn
        else:
            key = aws.kms.Key(
                f"{name}-kms",
                description=f"SSE-KMS key of the {stack.stack} data lake",
                enable_key_rotation=True,
                deletion_window_in_days=settings.kms_deletion_window_days,
                tags={"dataplatform:role": "lake-key"},
                opts=self._data_bearing(),
            )
            aws.kms.Alias(
                f"{name}-kms-alias",
                name=f"alias/{stack.name_prefix}-{stack.stack}-lake",
                target_key_id=key.key_id,
                opts=self._child(),
            )
            key_arn = key.arn
        buckets = {role: self._s3_bucket(role, bucket, key_arn) for role, bucket in names.items()}
        logged = [bucket for role, bucket in names.items() if role != ACCESS_LOGS.role]
        for role, bucket in buckets.items():
            self._s3_policy(role, bucket, names, logged)
            if role != ACCESS_LOGS.role:
                aws.s3.BucketLogging(
                    f"{name}-{role}-logging",
                    bucket=bucket.id,
                    target_bucket=buckets[ACCESS_LOGS.role].id,
                    target_prefix=f"{role}/",
                    opts=self._child(),
                )
        kms_roles = {role for role in names if role != ACCESS_LOGS.role} if config.encryption else set()
        byo_key_arn = None if key else key_arn
        provider_arn = settings.oidc_provider_arn
        # identity -> (its IAM principal as `user/<name>` or `role/<name>`, the resource that declares it)
        principals: dict[str, tuple[str, pulumi.Resource]] = {}
        credentials = {}
        for identity in self._identities:
            account = self._workload_accounts.get(identity.name)
            if account is not None and provider_arn is not None:
                # The workload's client takes web identity credentials: a role its service account assumes, no key.
                role = self._identity_role(identity, account, provider_arn, names, byo_key_arn, kms_roles)
                principals[identity.name] = (f"role/{self._physical(identity.name)}", role)
            else:
                user, credentials[identity.name] = self._iam_user(identity, names, byo_key_arn, kms_roles)
                principals[identity.name] = (f"user/{self._physical(identity.name)}", user)
        roles = {writer.name: self._writer_role(writer, names, byo_key_arn, kms_roles)
                 for writer in self._prefix_writers}
        if key is not None and kms_roles:
            self._key_policy(key, principals, kms_roles, roles)
        return buckets, credentials

    def _identity_role(self, identity: Identity, account: WorkloadAccount, provider_arn: str,
                       names: dict[str, str], byo_key_arn: str | None, kms_roles: set[str]) -> aws.iam.Role:
        """A lake identity whose workload takes web identity credentials: an IAM role only its service account
        assumes through the cluster's OIDC provider (IRSA), with the S3 (and KMS) policy a user would have had."""
        name = f"{self._name}-{identity.name}"
        role = aws.iam.Role(
            name,
            name=self._physical(identity.name),
            assume_role_policy=web_identity_trust_document(provider_arn, account.namespace, account.service_account),
            tags={"dataplatform:identity": identity.name},
            opts=self._child(),
        )
        aws.iam.RolePolicy(f"{name}-s3", role=role.name, policy=bucket_policy_document(identity, names),
                           opts=self._child())
        kms_document = kms_policy_document(identity, byo_key_arn, kms_roles) if byo_key_arn else None
        if kms_document is not None:
            aws.iam.RolePolicy(f"{name}-kms", role=role.name, policy=kms_document, opts=self._child())
        self._role_arns[identity.name] = role.arn
        return role

    def _writer_role(self, writer: PrefixWriter, names: dict[str, str], byo_key_arn: str | None,
                     kms_roles: set[str]) -> aws.iam.Role:
        """A prefix writer on S3: an IAM role its service account assumes through the cluster's OIDC provider."""
        provider_arn = self._config.s3_settings.oidc_provider_arn
        if provider_arn is None:  # the config model requires it on s3; a direct caller may not have it
            raise ValueError(f"storage.s3.oidcProviderArn is required for the prefix writer {writer.name}")
        name = f"{self._name}-{writer.name}"
        role = aws.iam.Role(
            name,
            name=self._physical(writer.name),
            assume_role_policy=web_identity_trust_document(provider_arn, writer.namespace, writer.service_account),
            tags={"dataplatform:identity": writer.name},
            opts=self._child(),
        )
        aws.iam.RolePolicy(f"{name}-s3", role=role.name, policy=prefix_policy_document(writer, names),
                           opts=self._child())
        if byo_key_arn and writer.bucket_role in kms_roles:
            document = kms_policy_document(Identity(writer.name, writer.description, ((writer.bucket_role, "write"),)),
                                           byo_key_arn, kms_roles)
            aws.iam.RolePolicy(f"{name}-kms", role=role.name, policy=document, opts=self._child())
        self._role_arns[writer.name] = role.arn
        return role

    def _key_policy(self, key: aws.kms.Key, principals: dict[str, tuple[str, pulumi.Resource]],
                    kms_roles: set[str], roles: dict[str, aws.iam.Role] | None = None) -> None:
        caller = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self))
        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self))
        writer_roles = {self._physical(writer.name): writer.bucket_role for writer in self._prefix_writers}
        names = {identity: principal for identity, (principal, _) in principals.items()}
        declared = [resource for _, resource in principals.values()]
        policy = pulumi.Output.all(partition.partition, caller.account_id, region.region).apply(
            lambda values: key_policy_document(values[0], values[1], values[2], names, self._identities, kms_roles,
                                               writer_roles)
        )
        # KMS rejects a key policy naming principals that do not exist yet: the users and roles come first.
        aws.kms.KeyPolicy(
            f"{self._name}-kms-policy",
            key_id=key.key_id,
            policy=policy,
            opts=self._child(depends_on=[*declared, *(roles or {}).values()]),
        )

    def _s3_bucket(self, role: str, bucket_name_: str, key_arn: pulumi.Input[str]) -> aws.s3.Bucket:
        config, name = self._config, f"{self._name}-{role}"
        locked = role == "logs" and config.object_lock_days > 0
        tags = {"dataplatform:role": role}
        if role in LAKE_BUCKETS:
            tags["dataplatform:layer"] = role
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
                if role == ACCESS_LOGS.role
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
                        bucket_key_enabled=role != ACCESS_LOGS.role,
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
                    noncurrent_days=self._catalog.lake.noncurrent_version_days
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
        days = retention_days(role, self._config, self._catalog)
        if days:
            rules.append(
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-current-objects",
                    status="Enabled",
                    filter=whole_bucket,
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=days),
                )
            )
        for rule_id, prefix, expire_days in self._prefix_expirations(role):
            rules.append(
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id=rule_id,
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=prefix),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=expire_days),
                )
            )
        return rules

    def _prefix_expirations(self, role: str) -> list[tuple[str, str, int]]:
        """(rule id, prefix, days) of the prefixes lent in this bucket whose objects expire."""
        return [(f"expire-{grant.prefix.rstrip('/').replace('/', '-')}", grant.prefix, grant.expire_days)
                for grant in self._prefix_grants if grant.bucket == role and grant.expire_days]

    def _s3_policy(self, role: str, bucket: aws.s3.Bucket, names: dict[str, str], logged: list[str]) -> None:
        statements = [tls_only_statement(names[role])]
        policy: pulumi.Input[str] = json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)
        if role == ACCESS_LOGS.role:
            caller = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
            policy = caller.account_id.apply(lambda account: json.dumps(
                {"Version": "2012-10-17",
                 "Statement": [*statements, access_log_delivery_statement(names[role], logged, account)]},
                sort_keys=True))
        aws.s3.BucketPolicy(
            f"{self._name}-{role}-policy",
            bucket=bucket.id,
            policy=policy,
            opts=self._child(),
        )

    def _physical(self, identity_name: str) -> str:
        return naming.physical_name(self._stack.name_prefix, self._stack.stack, identity_name)

    def _iam_user(
        self, identity: Identity, names: dict[str, str], byo_key_arn: str | None, kms_roles: set[str]
    ) -> tuple[aws.iam.User, dict[str, pulumi.Output[str]]]:
        name = f"{self._name}-{identity.name}"
        issued = self._config.s3_settings.access_keys_issued
        tags = {"dataplatform:identity": identity.name}
        if issued is not None:
            tags[KEYS_ISSUED_TAG] = issued.isoformat()
        user = aws.iam.User(name, name=self._physical(identity.name), tags=tags, opts=self._child())
        aws.iam.UserPolicy(
            f"{name}-s3",
            user=user.name,
            policy=bucket_policy_document(identity, names),
            opts=self._child(),
        )
        kms_document = kms_policy_document(identity, byo_key_arn, kms_roles) if byo_key_arn else None
        if kms_document is not None:
            aws.iam.UserPolicy(f"{name}-kms", user=user.name, policy=kms_document, opts=self._child())
        # A new `storage.s3.accessKeysIssued` (`make rotate-keys`) replaces the key: the engine creates the new one,
        # the Secrets that carry it follow, then it deletes the old one (an IAM user holds two keys at most).
        access_key = aws.iam.AccessKey(
            f"{name}-key", user=user.name,
            opts=self._child(replacement_trigger=issued.isoformat() if issued is not None else None),
        )
        return user, {"access_key_id": access_key.id, "secret_access_key": pulumi.Output.secret(access_key.secret)}

    # ---- MinIO ----------------------------------------------------------------------------------

    def _declare_minio(
        self,
        settings: MinioSettings,
        names: dict[str, str],
        minio_credentials: tuple[pulumi.Input[str], pulumi.Input[str]] | None,
        ca_file: pulumi.Input[str] | None,
    ) -> tuple[dict[str, minio.S3Bucket], dict]:
        name = self._name
        user, password = minio_credentials if minio_credentials else (None, None)
        provider = minio.Provider(
            f"{name}-minio",
            minio_server=settings.server,
            minio_region=settings.region,
            minio_ssl=True,
            minio_cacert_file=ca_file,
            minio_user=user,
            minio_password=pulumi.Output.secret(password) if password is not None else None,
            opts=self._child(),
        )
        with_provider = {"provider": provider}
        buckets = {role: self._minio_bucket(role, bucket, with_provider) for role, bucket in names.items()}
        credentials = {
            identity.name: self._minio_user(identity, names, with_provider) for identity in self._identities
        }
        for writer in self._prefix_writers:
            credentials[writer.name] = self._minio_account(writer.name, prefix_policy_document(writer, names),
                                                           with_provider)
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
                kms_key_id=config.minio_kms_key(self._stack),
                opts=self._child(**with_provider),
            )
        rules = [
            minio.IlmPolicyRuleArgs(
                id="expire-noncurrent-versions",
                status="Enabled",
                noncurrent_version_expiration_days=self._catalog.lake.noncurrent_version_days,
            )
        ]
        days = retention_days(role, config, self._catalog)
        if days:
            rules.append(minio.IlmPolicyRuleArgs(id="expire-current-objects", status="Enabled", expiration=f"{days}d"))
        rules += [minio.IlmPolicyRuleArgs(id=rule_id, status="Enabled", filter=prefix, expiration=f"{expire_days}d")
                  for rule_id, prefix, expire_days in self._prefix_expirations(role)]
        minio.IlmPolicy(f"{name}-lifecycle", bucket=bucket.bucket, rules=rules, opts=self._child(**with_provider))
        return bucket

    def _minio_user(
        self, identity: Identity, names: dict[str, str], with_provider: dict
    ) -> dict[str, pulumi.Output[str]]:
        return self._minio_account(identity.name, bucket_policy_document(identity, names), with_provider)

    def _minio_account(self, identity_name: str, document: str, with_provider: dict) -> dict[str, pulumi.Output[str]]:
        name = f"{self._name}-{identity_name}"
        secret = random.RandomPassword(f"{name}-secret", length=40, special=False, opts=self._child())
        user_name = self._physical(identity_name)
        user = minio.IamUser(
            name,
            name=user_name,
            secret=secret.result,
            opts=self._child(additional_secret_outputs=["secret"], **with_provider),
        )
        policy = minio.IamPolicy(
            f"{name}-policy",
            name=user_name,
            policy=document,
            opts=self._child(**with_provider),
        )
        minio.IamUserPolicyAttachment(
            f"{name}-policy-attachment",
            user_name=user.name,
            policy_name=policy.name,
            opts=self._child(**with_provider),
        )
        return {"access_key_id": user.name, "secret_access_key": pulumi.Output.secret(secret.result)}
