"""The storage layer's section of the stack config (`dataplatform:storage`): the lake's object store.

A pure pydantic model: the stack config (infra/model/config.py) is composed of the sections, and the
component takes this one as it is."""

from __future__ import annotations

import datetime
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from infra.model import naming
from infra.model.errors import InputError, Problem
from infra.model.sections import (
    HOST_PORT,
    KMS_KEY_ARN,
    MIN_ACCESS_LOG_DAYS,
    NO_SPACE,
    Section,
    StackIdentity,
)


class MinioSettings(Section):
    server: Annotated[str, Field(min_length=1, pattern=HOST_PORT)] = Field(
        description="MinIO API host:port that `pulumi up` reaches (see docs/decisions/0001-deployment-topology.md)."
    )
    kms_key_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")] | None = Field(
        default=None,
        description="MinIO KMS key id used for SSE-KMS on every bucket; None derives `<namePrefix>-<stack>-sse`, "
        "the key the runtime's MinIO is started with.",
    )
    region: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")] = Field(
        default="us-east-1", description="Region MinIO reports to S3 clients."
    )
    ca_cert_file: Annotated[str, Field(min_length=1, pattern=NO_SPACE)] | None = Field(
        default=None,
        description="CA bundle that signs MinIO's TLS certificate, on the deployer; None: the runtime's CA file.",
    )

    @field_validator("server")
    @classmethod
    def _port(cls, server: str) -> str:
        port = int(server.rpartition(":")[2])
        if not 1 <= port <= 65535:
            raise ValueError(f"the port of `server` must be between 1 and 65535 (got {port})")
        return server


OIDC_PROVIDER_ARN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/[A-Za-z0-9.-]+(/[A-Za-z0-9._-]+)*$"


class S3Settings(Section):
    kms_key_arn: Annotated[str, Field(pattern=KMS_KEY_ARN)] | None = Field(
        default=None,
        description="Existing customer-managed KMS key for SSE-KMS; None creates one per stack with rotation on.",
    )
    kms_deletion_window_days: Annotated[int, Field(ge=7, le=30)] = Field(
        default=30, description="Waiting period before a scheduled KMS key deletion takes effect."
    )
    oidc_provider_arn: Annotated[str, Field(pattern=OIDC_PROVIDER_ARN)] | None = Field(
        default=None,
        description="The IAM OIDC identity provider of the Kubernetes cluster's service account issuer "
        "(`arn:aws:iam::<account>:oidc-provider/<issuer>`): workloads that write the lake without keys "
        "(Elasticsearch's snapshots, the log shipper, the database backups) assume IAM roles through it (IRSA), each "
        "role trusted by one namespace's one service account. Required in prod; without it every identity keeps an "
        "IAM user with an access key.",
    )
    access_keys_issued: datetime.date | None = Field(
        default=None,
        description="The day the IAM users' access keys were last issued (YYYY-MM-DD), for the identities whose "
        "clients take no web identity: a new date replaces every key on the next `pulumi up`. `make rotate-keys "
        "STACK=<stack>` sets it to today; the policy pack refuses a key older than its maximum age (90 days). "
        "Required in prod.",
    )


class StorageConfig(Section):
    backend: Literal["minio", "s3"] = Field(description="Object store: `minio` (self-hosted) or `s3` (AWS).")
    encryption: bool = Field(default=True, description="Server-side encryption on every bucket.")
    versioning: bool = Field(default=True, description="Object versioning on every bucket.")
    object_lock_days: Annotated[int, Field(ge=0, le=36500)] = Field(
        description="Governance-free (COMPLIANCE) object lock on the logs bucket, in days; 0 turns it off."
    )
    access_log_retention_days: Annotated[int, Field(ge=MIN_ACCESS_LOG_DAYS)] = Field(
        default=MIN_ACCESS_LOG_DAYS, description="Days server access logs are kept (at least 90)."
    )
    force_destroy: bool = Field(
        default=False, description="Allow deleting non-empty buckets; never in prod."
    )
    minio: MinioSettings | None = Field(default=None, description="Settings of the `minio` backend.")
    s3: S3Settings | None = Field(default=None, description="Settings of the `s3` backend.")

    @model_validator(mode="after")
    def _backend_settings(self) -> StorageConfig:
        problems = []
        if self.backend == "minio" and self.minio is None:
            problems.append(Problem("minio", "required when `storage.backend` is minio (at least `server`, MinIO's "
                                             "host:port)"))
        if self.backend == "s3" and self.minio is not None:
            problems.append(Problem("minio", "only applies when `storage.backend` is minio; remove it or change "
                                             "`storage.backend`"))
        if self.backend == "minio" and self.s3 is not None:
            problems.append(Problem("s3", "only applies when `storage.backend` is s3; remove it or change "
                                          "`storage.backend`"))
        if self.object_lock_days and not self.versioning:
            problems.append(Problem("versioning", "must be true while `storage.objectLockDays` is set (object lock "
                                                  "requires versioned buckets)", self.versioning))
        if problems:
            raise InputError(*problems)
        return self

    @property
    def s3_settings(self) -> S3Settings:
        """The `s3` block, or its defaults when the stack sets none."""
        return self.s3 if self.s3 is not None else S3Settings()

    def minio_kms_key(self, stack: StackIdentity) -> str:
        """The MinIO KMS key every bucket's SSE uses: the configured id, else `<namePrefix>-<stack>-sse`."""
        if self.minio is not None and self.minio.kms_key_id:
            return self.minio.kms_key_id
        return naming.physical_name(stack.name_prefix, stack.stack, "sse")
