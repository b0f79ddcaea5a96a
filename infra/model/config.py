"""The typed stack config: parsed once at program start, per-stage defaults in code, values in YAML.

`Pulumi.<stack>.yaml` holds values only. Everything stage-dependent defaults here, keyed by `stage`, and the
merged result is validated by `StackConfig`; any invalid input raises `ConfigError` naming the key path, the
bad value and what is allowed, before a single resource is declared.

Each section is the one typed form of its settings: components take their section (and `StackIdentity`, what
every layer shares) as it is, with no second model of their own. Rules that span sections or stages live here
too; rules that need the catalog as well are in infra/model/inputs.py.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, model_validator

from components.ingestion.config import IngestionSettings
from components.lakehouse.config import LakehouseSettings
from components.logs.config import LogsSettings
from components.metadata.config import MetadataSettings
from components.presentation.config import PresentationSettings
from components.runtime.config import AlertingSettings, KubernetesConfig, secret_command
from components.storage.config import StorageConfig
from infra.model import naming
from infra.model.errors import MISSING, ConfigError, InputError, Problem, config_error, validation_problems
from infra.model.sections import (
    AWS_REGION,
    MIN_AUDIT_DAYS_PROD,
    MIN_BACKUP_DAYS_PROD,
    Section,
    StackIdentity,
)

PROJECT = "dataplatform"
# The longest role suffix a bucket name gets (see components.storage.component); names must stay within 63.
LONGEST_BUCKET_ROLE = "dremio-store"


class AwsConfig(Section):
    region: Annotated[str, Field(pattern=AWS_REGION)] = Field(
        description="AWS region of every AWS resource of the stack."
    )
    allowed_account_ids: list[Annotated[str, Field(pattern=r"^[0-9]{12}$")]] = Field(
        default_factory=list,
        description="The AWS account ids the stack may run in (12 digits each). The AWS provider refuses any other "
        "account, and the policy pack refuses a key or bucket policy that names a principal of another account "
        "(make policy-config writes them into policies/config/<stack>.json). Required in prod.",
    )


class RetentionConfig(Section):
    audit_days: Annotated[int, Field(ge=1, le=3650)] = Field(
        description="Days every audit trail is kept (PostgreSQL, object store, query engine, search)."
    )


class StackConfig(Section):
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
    metadata: MetadataSettings = Field(description="The metadata PostgreSQL server.")
    logs: LogsSettings = Field(description="The log and audit Elasticsearch cluster.")
    lakehouse: LakehouseSettings = Field(description="The Dremio lakehouse.")
    ingestion: IngestionSettings = Field(description="Airbyte: its jobs and where the catalog's sources live.")
    presentation: PresentationSettings = Field(description="Superset.")
    alerting: AlertingSettings = Field(
        default_factory=AlertingSettings,
        description="Where the installed Alertmanager sends alerts (docs/runtime.md, \"Alerting\"). Unset: no "
        "receiver, alerts are visible in Alertmanager's UI only.",
    )

    @model_validator(mode="after")
    def _cross_field_rules(self) -> StackConfig:
        problems = []
        longest = naming.bucket_name(self.name_prefix, self.stack, LONGEST_BUCKET_ROLE)
        if len(longest) > 63:
            problems.append(Problem(
                "namePrefix", f"too long for stack '{self.stack}': it makes bucket names like '{longest}' "
                f"({len(longest)} characters) and bucket names allow at most 63; shorten namePrefix",
                self.name_prefix))
        on_aws = [reason for needed, reason in ((self.storage.backend == "s3", "`storage.backend` is s3"),
                                                (self.metadata.backend == "rds", "`metadata.backend` is rds"))
                  if needed]
        if on_aws and self.aws is None:
            problems.append(Problem("aws.region", f"required when {' and '.join(on_aws)}"))
        # prod's own rule below asks for the organisation's CA instead.
        if self.kubernetes.ca.certificate is None and not self.kubernetes.install_cert_manager and self.stage != "prod":
            problems.append(Problem(
                "kubernetes.installCertManager", "must be true while the stack generates its CA (no `kubernetes.ca`); "
                "to use the cluster's cert-manager, set `kubernetes.ca.certificate` and the `issuer` that signs with "
                "it", False))
        if self.metadata.backend == "rds" and self.metadata.network is None:
            problems.append(Problem(
                "metadata.network", "required when `metadata.backend` is rds (subnetIds, securityGroupIds), so the "
                "instance lands in the cluster's VPC"))
        if self.metadata.backend == "rds" and not self.metadata.ca_bundle_file:
            problems.append(Problem(
                "metadata.caBundleFile", "required when `metadata.backend` is rds (the RDS CA bundle on the "
                "deployer)"))
        if self.kubernetes.alertmanager == "existing" and self.alerting.receivers:
            problems.append(Problem(
                "alerting.receivers", "only used when `kubernetes.alertmanager` is install: the cluster's existing "
                "Alertmanager is configured by whoever runs it; remove `alerting` or install the stack's own"))
        if self.metadata.backend != "rds" and self.metadata.event_emails is not None:
            problems.append(Problem(
                "metadata.eventEmails", "only used when `metadata.backend` is rds (RDS's events); remove it"))
        snapshot_audit_days = self.logs.snapshots.audit_days
        if snapshot_audit_days is not None and snapshot_audit_days < self.retention.audit_days:
            problems.append(Problem(
                "logs.snapshots.auditDays", f"must be at least `retention.auditDays` ({self.retention.audit_days}): an "
                "audit snapshot is kept at least as long as the audit trail", snapshot_audit_days))
        if self.stage == "prod":
            problems += _prod_problems(self)
        if problems:
            raise InputError(*problems)
        return self

    @property
    def identity(self) -> StackIdentity:
        """What every layer takes besides its own section."""
        return StackIdentity(name_prefix=self.name_prefix, stack=self.stack, stage=self.stage, protect=self.protect)

    @property
    def rds_event_emails(self) -> tuple[str, ...]:
        """Where the RDS instance's events are mailed: `metadata.eventEmails`, else every address of the `alerting`
        e-mail receivers, in order, each once. Webhook receivers get none (docs/backup-and-restore.md)."""
        if self.metadata.event_emails is not None:
            return self.metadata.event_emails
        addresses = [address for receiver in self.alerting.receivers.values() if receiver.email is not None
                     for address in receiver.email.to]
        return tuple(dict.fromkeys(addresses))

    @property
    def object_store(self) -> ObjectStore:
        """The lake's S3 endpoint as its clients (Airbyte, Dremio) address it."""
        if self.storage.minio is not None:
            return ObjectStore(server=self.storage.minio.server, region=self.storage.minio.region)
        return ObjectStore(server=None, region=self.aws.region if self.aws is not None else "us-east-1")


@dataclass(frozen=True)
class ObjectStore:
    """Where the lake's S3 API is: MinIO's `host:port` (dev), or None for AWS S3, and the region it reports."""

    server: str | None
    region: str

    @property
    def url(self) -> str | None:
        """MinIO's https URL; None for AWS S3, whose clients find the regional endpoint themselves."""
        return f"https://{self.server}" if self.server else None


def _prod_problems(config: StackConfig) -> list[Problem]:
    storage, metadata = config.storage, config.metadata
    rules = [
        (storage.encryption, "storage.encryption", storage.encryption, "prod requires true"),
        (storage.versioning, "storage.versioning", storage.versioning, "prod requires true"),
        (not storage.force_destroy, "storage.forceDestroy", storage.force_destroy, "prod requires false"),
        (config.protect, "protect", config.protect, "prod requires true"),
        (
            config.kubernetes.ca.certificate is not None,
            "kubernetes.ca.certificate",
            MISSING,
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
        (storage.backend != "s3" or storage.s3_settings.oidc_provider_arn is not None, "storage.s3.oidcProviderArn",
         MISSING, "prod requires the IAM OIDC provider of the cluster's service account issuer: the workloads whose "
         "clients take web identity credentials assume IAM roles through it instead of holding access keys "
         "(`arn:aws:iam::<account>:oidc-provider/<issuer>`; on EKS `aws eks describe-cluster --query "
         "cluster.identity.oidc.issuer`)"),
        (storage.backend != "s3" or storage.s3_settings.access_keys_issued is not None, "storage.s3.accessKeysIssued",
         MISSING,
         "prod requires the day the remaining access keys were issued (`make rotate-keys STACK=prod` sets it)"),
        (metadata.backend == "rds", "metadata.backend", metadata.backend, 'prod requires "rds"'),
        (metadata.multi_az, "metadata.multiAz", metadata.multi_az, "prod requires true"),
        (
            metadata.deletion_protection,
            "metadata.deletionProtection",
            metadata.deletion_protection,
            "prod requires true",
        ),
        (
            metadata.backup_retention_days >= MIN_BACKUP_DAYS_PROD,
            "metadata.backupRetentionDays",
            metadata.backup_retention_days,
            f"prod requires at least {MIN_BACKUP_DAYS_PROD}",
        ),
        (
            config.lakehouse.backup.retention_days >= config.retention.audit_days,
            "lakehouse.backup.retentionDays",
            config.lakehouse.backup.retention_days,
            f"prod requires at least retention.auditDays ({config.retention.audit_days})",
        ),
    ]
    problems = [Problem(key, allowed, value) for ok, key, value, allowed in rules if not ok]
    if metadata.backend == "rds" and not config.rds_event_emails:
        problems.append(Problem(
            "metadata.eventEmails", "prod requires at least one address for RDS's events (a failed backup or a failed "
            "instance must reach someone): list them here, or give `alerting` an e-mail receiver",
            list(metadata.event_emails) if metadata.event_emails is not None else MISSING))
    return problems


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
        "metadata": {"backend": "cloudnative-pg", "instances": 1, "storageGib": 10, "backupRetentionDays": 7},
        "logs": {
            "nodeSets": [
                {"name": "default", "count": 1, "roles": ["master", "data", "ingest"], "storageGib": 10,
                 "memoryGib": 2}
            ],
            "jobLogDays": 7,
        },
        "lakehouse": {"size": "small", "executors": 1, "volumeGib": 20,
                      "backup": {"schedule": {"every": "1d"}, "retentionDays": 30}},
        "ingestion": {"jobSize": "small"},
        "presentation": {"size": "small"},
    },
    "prod": {
        "protect": True,
        "storage": {"backend": "s3", "objectLockDays": MIN_AUDIT_DAYS_PROD},
        "retention": {"auditDays": MIN_AUDIT_DAYS_PROD},
        "kubernetes": {
            "installCertManager": False,
            "installCloudnativePg": False,
            "alertmanager": "install",
            "replicas": 2,
            "prometheusRetentionDays": 30,
        },
        "metadata": {
            "backend": "rds",
            "storageGib": 100,
            "backupRetentionDays": 14,
            "multiAz": True,
            # Where the in-cluster deployer image ships the RDS CA bundle (docs/metadata-and-logs.md).
            "caBundleFile": "/etc/dataplatform/rds-global-bundle.pem",
        },
        "logs": {
            "nodeSets": [
                {"name": "masters", "count": 3, "roles": ["master"], "storageGib": 10, "memoryGib": 2},
                {"name": "data", "count": 3, "roles": ["data", "ingest"], "storageGib": 200, "memoryGib": 8},
            ],
            "jobLogDays": 30,
        },
        "lakehouse": {"size": "large", "executors": 3, "volumeGib": 200,
                      "backup": {"schedule": {"every": "1d"}, "retentionDays": MIN_AUDIT_DAYS_PROD}},
        "ingestion": {"jobSize": "large"},
        "presentation": {"size": "large"},
    },
}


def minio_kms_key_id(config: StackConfig) -> str:
    """The MinIO KMS key every bucket's SSE uses: the configured id, else `<namePrefix>-<stack>-sse`."""
    return config.storage.minio_kms_key(config.identity)


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def stack_origin(stack: str) -> str:
    return f"Pulumi.{stack}.yaml"


def parse_stack_config(values: dict[str, Any], stack: str, origin: str | None = None,
                       secret_keys: Collection[str] | None = None,
                       secret_paths: Collection[str] | None = None) -> StackConfig:
    """Validate project-namespace config values (keys without the `<project>:` prefix).

    Structured values may arrive as JSON strings, as the engine passes them to programs. Every problem is reported
    at once, one line each, as `Pulumi.<stack>.yaml: dataplatform:<key.path>: <what is allowed> (got <value>)`.
    `secret_keys`: the keys the engine holds encrypted (`<project>:<key>`, as `pulumi config set --secret` leaves
    them); given, a secret of the config in plain text is a problem too. `secret_paths`: the `secure:` leaves of
    the stack file (`<project>:<key>.<path>`, what the offline tiers read from it); given, each secret must be one
    of them, so a plain-text secret beside an encrypted one under the same top-level key is refused as well.
    """
    origin = origin or stack_origin(stack)
    prefix = f"{PROJECT}:"
    decoded = {key: _decode(value) for key, value in values.items()}
    stage = decoded.get("stage")
    if stage not in STAGE_DEFAULTS:
        value = stage if stage is not None else MISSING
        raise config_error(origin, [Problem("stage", f"must be one of {', '.join(STAGE_DEFAULTS)}", value)], prefix)
    if "stack" in decoded:
        raise config_error(origin, [Problem("stack", "unknown key; the stack name comes from the engine")], prefix)
    if not re.match(r"^[a-z0-9][a-z0-9-]*$", stack):
        raise ConfigError(f"{origin}: the stack name '{stack}' is part of every physical name; use lowercase "
                          "letters, digits and hyphens")
    document = _deep_merge(STAGE_DEFAULTS[stage], decoded)
    document["stack"] = stack
    try:
        config = StackConfig.model_validate(document)
    except ValidationError as error:
        raise config_error(origin, validation_problems(error, document), prefix) from None
    if secret_keys is not None or secret_paths is not None:
        plain = plaintext_secrets(config, secret_keys or (), secret_paths)
        if plain:
            raise config_error(origin, plain, prefix)
    return config


def secret_paths(config: StackConfig) -> list[str]:
    """The key paths (under `dataplatform:`) of every secret the config holds: the alerting receivers' and every
    other value the model types as a secret (a source's password or connector secrets)."""
    found = list(config.alerting.secret_paths())

    def walk(node: Any, path: str) -> None:
        if isinstance(node, SecretStr):
            if path not in found:
                found.append(path)
        elif isinstance(node, dict):
            for key, item in node.items():
                walk(item, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{path}[{index}]")

    walk(config.model_dump(by_alias=True, exclude={"stack"}), "")
    return found


def plaintext_secrets(config: StackConfig, secret_keys: Collection[str],
                      secure_paths: Collection[str] | None = None) -> list[Problem]:
    """Secrets of the config the stack file does not hold encrypted. With `--path`, Pulumi encrypts the value and
    marks its whole top-level key secret, which is all a program is told: a key holding a secret must be one. Given
    the file's `secure:` leaves (`secure_paths`), each secret must be one of them."""
    problems = []
    for path in secret_paths(config):
        if secure_paths is not None:
            plain = f"{PROJECT}:{path}" not in secure_paths
        else:
            plain = f"{PROJECT}:{path.split('.', 1)[0]}" not in secret_keys
        if plain:
            problems.append(Problem(path, "a secret in plain text in the stack file: set it encrypted with "
                                    + secret_command(path, path.rsplit(".", 1)[-1])))
    return problems


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
