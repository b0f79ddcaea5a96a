"""The typed stack config: parsed once at program start, per-stage defaults in code, values in YAML.

`Pulumi.<stack>.yaml` holds values only. Everything stage-dependent defaults here, keyed by `stage`, and the
merged result is validated by `StackConfig`; any invalid input raises `ConfigError` naming the key path, the
bad value and what is allowed, before a single resource is declared.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from infra.errors import ConfigError, format_validation_error

PROJECT = "dataplatform"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
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
    kms_key_id: Annotated[str, Field(min_length=1)] | None = Field(
        default=None,
        description="MinIO KMS key id used for SSE-KMS on every bucket; None derives `<namePrefix>-<stack>-sse`, "
        "the key the runtime's MinIO is started with.",
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
            raise ValueError("backend `minio` needs a `minio` block (server)")
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


class CaSettings(_Section):
    certificate: Annotated[str, Field(min_length=1)] | None = Field(
        default=None,
        description="The organisation's CA certificate: PEM text, or the path of a PEM file (relative paths from "
        "the project root). Unset: the runtime generates the stack's CA (dev only).",
    )
    issuer: Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")] | None = Field(
        default=None, description="Existing cert-manager ClusterIssuer that signs with that CA; required with it."
    )

    @model_validator(mode="after")
    def _together(self) -> CaSettings:
        if (self.certificate is None) != (self.issuer is None):
            raise ValueError(
                "`certificate` and `issuer` go together: set both (organisation CA) or neither (generated)"
            )
        self.pem  # noqa: B018 (a path that does not read fails here, under this key)
        return self

    @property
    def pem(self) -> str | None:
        """The certificate as PEM text, read from the file when the value is a path."""
        if self.certificate is None or self.certificate.lstrip().startswith("-----BEGIN"):
            return self.certificate
        return _read_pem(self.certificate)


class KubernetesConfig(_Section):
    context: str | None = Field(
        default=None,
        description="kubeconfig context to deploy to; None uses the deployer's in-cluster service account "
        "(docs/decisions/0001-deployment-topology.md) or the current context.",
    )
    ca: CaSettings = Field(default_factory=CaSettings, description="Where the stack's CA comes from.")
    install_cert_manager: bool = Field(
        description="Install cert-manager; false when the cluster already runs it (its issuer then exists)."
    )
    install_cloudnative_pg: bool = Field(description="Install the CloudNativePG operator (in-cluster PostgreSQL).")
    alertmanager: Literal["install", "existing"] = Field(
        description="`install` an Alertmanager with Prometheus, or `existing`: the cluster already has one."
    )
    replicas: Annotated[int, Field(ge=1, le=5)] = Field(description="Replicas of each shared service.")
    storage_class: str | None = Field(default=None, description="StorageClass of volumes; None: the default.")
    minio_volume_gib: Annotated[int, Field(ge=1, le=10000)] = Field(
        default=20, description="Volume size of the dev MinIO, GiB."
    )
    prometheus_retention_days: Annotated[int, Field(ge=1, le=365)] = Field(
        description="Days Prometheus keeps metrics."
    )


def _read_pem(path_text: str) -> str:
    path = Path(path_text).expanduser()
    if not path.is_absolute():
        path = PROJECT_ROOT / path
    try:
        text = path.read_text()
    except OSError as error:
        raise ValueError(f"`certificate` is neither PEM text nor a readable file: {path} ({error.strerror})") from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise ValueError(f"`certificate` file {path} holds no PEM certificate")
    return text


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
    kubernetes: KubernetesConfig = Field(description="The cluster the workloads run on and its runtime base.")

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
            config.kubernetes.ca.certificate is not None,
            "kubernetes.ca.certificate",
            None,
            "prod requires the organisation's CA (PEM text or file) with `kubernetes.ca.issuer`",
        ),
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
        "kubernetes": {
            "installCertManager": True,
            "installCloudnativePg": True,
            "alertmanager": "install",
            "replicas": 1,
            "prometheusRetentionDays": 7,
        },
    },
    "prod": {
        "protect": True,
        "storage": {"backend": "s3", "objectLockDays": 90},
        "retention": {"auditDays": 90},
        "kubernetes": {
            "installCertManager": False,
            "installCloudnativePg": False,
            "alertmanager": "install",
            "replicas": 2,
            "prometheusRetentionDays": 30,
        },
    },
}


def minio_kms_key_id(config: StackConfig) -> str:
    """The MinIO KMS key every bucket's SSE uses: the configured id, else `<namePrefix>-<stack>-sse`."""
    settings = config.storage.minio
    if settings is not None and settings.kms_key_id:
        return settings.kms_key_id
    return f"{config.name_prefix}-{config.stack}-sse"


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
