"""The typed stack config: parsed once at program start, per-stage defaults in code, values in YAML.

`Pulumi.<stack>.yaml` holds values only. Everything stage-dependent defaults here, keyed by `stage`, and the
merged result is validated by `StackConfig`; any invalid input raises `ConfigError` naming the key path, the
bad value and what is allowed, before a single resource is declared.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from infra.errors import ConfigError, format_validation_error

PROJECT = "dataplatform"
MIN_AUDIT_DAYS_PROD = 90
MIN_ACCESS_LOG_DAYS = 90
# The longest role suffix a bucket name gets (see components.storage); names must stay within 63.
LONGEST_BUCKET_ROLE = "dremio-store"


class _Section(BaseModel):
    """Stack YAML keys are camelCase (Pulumi's convention); Python attributes are snake_case."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True, validate_default=True
    )


class MinioSettings(_Section):
    server: str = Field(
        description="MinIO API host:port that `pulumi up` reaches (see docs/decisions/0002-deployment-topology.md)."
    )
    kms_key_id: Annotated[str, Field(min_length=1)] = Field(
        description="MinIO KMS key id used for SSE-KMS on every bucket (provided by the runtime's MinIO)."
    )
    region: str = Field(default="us-east-1", description="Region MinIO reports to S3 clients.")
    ca_cert_file: str | None = Field(
        default=None, description="CA bundle that signs MinIO's TLS certificate; None uses the system store."
    )


class S3Settings(_Section):
    kms_key_arn: str | None = Field(
        default=None,
        description="Existing customer-managed KMS key for SSE-KMS; None creates one per stack with rotation on.",
    )
    kms_deletion_window_days: Annotated[int, Field(ge=7, le=30)] = Field(
        default=30, description="Waiting period before a scheduled KMS key deletion takes effect."
    )


class StorageConfig(_Section):
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
        if self.backend == "minio" and self.minio is None:
            raise ValueError("backend `minio` needs a `minio` block (server, kmsKeyId)")
        if self.backend == "s3" and self.minio is not None:
            raise ValueError("the `minio` block only applies to backend `minio`; remove it or change `backend`")
        if self.backend == "minio" and self.s3 is not None:
            raise ValueError("the `s3` block only applies to backend `s3`; remove it or change `backend`")
        if self.object_lock_days and not self.versioning:
            raise ValueError("`objectLockDays` needs `versioning: true` (object lock requires versioned buckets)")
        return self


class AwsConfig(_Section):
    region: Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$")] = Field(
        description="AWS region of every AWS resource of the stack."
    )


class RetentionConfig(_Section):
    audit_days: Annotated[int, Field(ge=1, le=3650)] = Field(
        description="Days every audit trail is kept (PostgreSQL, object store, query engine, search)."
    )


class StackConfig(_Section):
    stage: Literal["dev", "prod"] = Field(description="Environment kind; selects the defaults below.")
    name_prefix: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,29}[a-z0-9]$")] = Field(
        description="Prefix of every physical name (`<prefix>-<stack>-<role>`); lowercase, digits and hyphens."
    )
    stack: str = Field(description="Stack name, set by the engine, not by YAML.", exclude=True)
    protect: bool = Field(description="Protect data-bearing resources from deletion.")
    storage: StorageConfig = Field(description="The lake's object store.")
    aws: AwsConfig | None = Field(default=None, description="AWS settings, needed when anything runs on AWS.")
    retention: RetentionConfig = Field(description="Audit retention.")

    @model_validator(mode="after")
    def _cross_field_rules(self) -> StackConfig:
        longest = f"{self.name_prefix}-{self.stack}-{LONGEST_BUCKET_ROLE}"
        if len(longest) > 63:
            raise ValueError(
                f"namePrefix '{self.name_prefix}' with stack '{self.stack}' makes bucket names like '{longest}' "
                f"({len(longest)} characters); bucket names allow at most 63, so shorten namePrefix"
            )
        if self.storage.backend == "s3" and self.aws is None:
            raise ValueError("storage backend `s3` needs an `aws` block with `region`")
        if self.stage == "prod":
            _require_prod(self)
        return self


def _require_prod(config: StackConfig) -> None:
    storage = config.storage
    rules = [
        (storage.encryption, "storage.encryption", storage.encryption, "prod requires true"),
        (storage.versioning, "storage.versioning", storage.versioning, "prod requires true"),
        (not storage.force_destroy, "storage.forceDestroy", storage.force_destroy, "prod requires false"),
        (config.protect, "protect", config.protect, "prod requires true"),
        (
            storage.object_lock_days >= MIN_AUDIT_DAYS_PROD,
            "storage.objectLockDays",
            storage.object_lock_days,
            f"prod requires at least {MIN_AUDIT_DAYS_PROD}",
        ),
        (
            config.retention.audit_days >= MIN_AUDIT_DAYS_PROD,
            "retention.auditDays",
            config.retention.audit_days,
            f"prod requires at least {MIN_AUDIT_DAYS_PROD}",
        ),
    ]
    for ok, key, value, allowed in rules:
        if not ok:
            raise ValueError(f"{key} is {json.dumps(value)}; {allowed}")


# Per-stage defaults. The stack YAML overrides any of them; what is left must validate.
STAGE_DEFAULTS: dict[str, dict[str, Any]] = {
    "dev": {
        "protect": False,
        "storage": {"backend": "minio", "objectLockDays": 0},
        "retention": {"auditDays": 30},
    },
    "prod": {
        "protect": True,
        "storage": {"backend": "s3", "objectLockDays": 90},
        "retention": {"auditDays": 90},
    },
}


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_stack_config(values: dict[str, Any], stack: str, origin: str | None = None) -> StackConfig:
    """Validate project-namespace config values (keys without the `<project>:` prefix).

    Structured values may arrive as JSON strings, as the engine passes them to programs.
    """
    origin = origin or f"Pulumi.{stack}.yaml"
    decoded = {key: _decode(value) for key, value in values.items()}
    stage = decoded.get("stage")
    if stage not in STAGE_DEFAULTS:
        allowed = ", ".join(STAGE_DEFAULTS)
        got = "missing" if stage is None else f"got {stage!r}"
        raise ConfigError(f"{origin}: {PROJECT}:stage: must be one of {allowed} ({got})")
    if "stack" in decoded:
        raise ConfigError(f"{origin}: {PROJECT}:stack: unknown key; the stack name comes from the engine")
    document = _deep_merge(STAGE_DEFAULTS[stage], decoded)
    document["stack"] = stack
    try:
        return StackConfig.model_validate(document)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, origin, key_prefix=f"{PROJECT}:")) from None


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def project_values(config_env: dict[str, Any], project: str = PROJECT) -> dict[str, Any]:
    """Keep the keys of our namespace from the engine's config map (`<project>:<key>` -> value)."""
    pattern = re.compile(rf"^{re.escape(project)}:(?P<key>.+)$")
    return {match["key"]: value for key, value in config_env.items() if (match := pattern.match(key))}
