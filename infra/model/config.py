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
import importlib.metadata
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from infra.model.errors import MISSING, ConfigError, InputError, Problem, config_error, validation_problems

PROJECT = "dataplatform"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
MIN_AUDIT_DAYS_PROD = 90
MIN_ACCESS_LOG_DAYS = 90
MIN_BACKUP_DAYS_PROD = 7
# The longest role suffix a bucket name gets (see components.storage.component); names must stay within 63.
LONGEST_BUCKET_ROLE = "dremio-store"
# Bounds (seconds) of the query-duration histogram the log shipper derives from Dremio's query log
# (components/logs/shipping.py); the slow-query alert compares against one of them, so its threshold must be one.
QUERY_SECONDS_BUCKETS: tuple[int, ...] = (1, 5, 10, 30, 60, 120, 300, 600)
IMAGE_LOCK = Path(__file__).resolve().parents[2] / "images" / "digests.lock.json"

HOST = r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
HOST_PORT = HOST.removesuffix("$") + r":[0-9]{1,5}$"
HTTPS_URL = r"^https://[^\s/?#]+[^\s]*$"
AWS_REGION = r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$"
S3_BUCKET = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
KUBERNETES_NAME = r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$"
ABSOLUTE_PATH = r"^/\S*$"
NO_SPACE = r"^\S+$"
KMS_KEY_ARN = r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$"


class _Section(BaseModel):
    """Stack YAML keys are camelCase (Pulumi's convention); Python attributes are snake_case."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True, validate_default=True
    )


class MinioSettings(_Section):
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


class S3Settings(_Section):
    kms_key_arn: Annotated[str, Field(pattern=KMS_KEY_ARN)] | None = Field(
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
        return f"{stack.name_prefix}-{stack.stack}-sse"


class AwsConfig(_Section):
    region: Annotated[str, Field(pattern=AWS_REGION)] = Field(
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
            absent = "issuer" if self.issuer is None else "certificate"
            raise InputError(Problem(absent, "`kubernetes.ca.certificate` and `kubernetes.ca.issuer` go together: set "
                                          "both (organisation CA) or neither (generated)"))
        if self.certificate is not None:
            try:
                self.pem  # noqa: B018 (a path that does not read fails here, under this key)
            except ValueError as error:
                raise InputError(Problem("certificate", str(error))) from None
        return self

    @property
    def pem(self) -> str | None:
        """The certificate as PEM text, read from the file when the value is a path."""
        if self.certificate is None:
            return None
        if self.certificate.lstrip().startswith("-----BEGIN"):
            return _certificate_text(self.certificate, "the PEM text")
        return _read_pem(self.certificate)


class KubernetesConfig(_Section):
    context: Annotated[str, Field(min_length=1, pattern=NO_SPACE)] | None = Field(
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
    storage_class: Annotated[str, Field(pattern=KUBERNETES_NAME)] | None = Field(
        default=None, description="StorageClass of volumes; None: the cluster's default."
    )
    minio_volume_gib: Annotated[int, Field(ge=1, le=10000)] = Field(
        default=20, description="Volume size of the dev MinIO, GiB."
    )
    prometheus_retention_days: Annotated[int, Field(ge=1, le=365)] = Field(
        description="Days Prometheus keeps metrics."
    )

    def issuer(self, stack: StackIdentity) -> str:
        """The ClusterIssuer that signs the platform's certificates: the organisation's, else the stack's own."""
        return self.ca.issuer or f"{stack.name_prefix}-{stack.stack}-ca"


def _read_pem(path_text: str) -> str:
    path = Path(path_text).expanduser()
    if not path.is_absolute():
        path = PROJECT_ROOT / path
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not text"
        raise ValueError(f"neither PEM text nor a readable file: {path} ({reason})") from None
    return _certificate_text(text, f"file {path}")


def _certificate_text(text: str, where: str) -> str:
    if "-----BEGIN CERTIFICATE-----" not in text or "-----END CERTIFICATE-----" not in text:
        raise ValueError(f"{where} holds no PEM certificate (-----BEGIN CERTIFICATE----- ... -----END "
                         "CERTIFICATE-----)")
    return text


class RdsNetwork(_Section):
    subnet_ids: list[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]] = Field(
        min_length=2, description="Private subnets in at least two availability zones, reachable from the cluster."
    )
    security_group_ids: list[Annotated[str, Field(pattern=r"^sg-[0-9a-f]{8,17}$")]] = Field(
        min_length=1, description="Security groups that admit PostgreSQL (5432) from the cluster's nodes only."
    )

    @model_validator(mode="after")
    def _distinct(self) -> RdsNetwork:
        problems = [Problem(key, f"lists {repeated} twice; give {least} different ones")
                    for key, ids, least in (("subnetIds", self.subnet_ids, "at least two"),
                                            ("securityGroupIds", self.security_group_ids, "only"))
                    for repeated in _repeated(ids)]
        if problems:
            raise InputError(*problems)
        return self


def _repeated(names: list[str]) -> list[str]:
    seen: set[str] = set()
    return sorted({name for name in names if name in seen or seen.add(name)})


class MetadataSettings(_Section):
    backend: Literal["cloudnative-pg", "rds"] = Field(
        description="PostgreSQL server: `cloudnative-pg` (in the cluster) or `rds` (AWS)."
    )
    postgres_version: Literal["15"] = Field(default="15", description="PostgreSQL major version.")
    instances: Annotated[int, Field(ge=1, le=5)] = Field(
        default=1, description="CloudNativePG instances (1 primary + replicas)."
    )
    storage_gib: Annotated[int, Field(ge=1, le=16000)] = Field(description="Database volume size, GiB.")
    backup_retention_days: Annotated[int, Field(ge=1, le=35)] = Field(description="Days backups are kept.")
    instance_class: Annotated[str, Field(pattern=r"^db\.[a-z0-9-]+\.[a-z0-9]+$")] = Field(
        default="db.t4g.medium", description="RDS instance class (`rds` only)."
    )
    multi_az: bool = Field(default=True, description="RDS standby in a second availability zone (`rds` only).")
    deletion_protection: bool = Field(default=True, description="RDS deletion protection (`rds` only).")
    ca_bundle_file: Annotated[str, Field(pattern=ABSOLUTE_PATH)] | None = Field(
        default=None,
        description="`rds`: absolute path, on the deployer, of the RDS CA bundle the PostgreSQL provider verifies the "
        "server with (sslmode verify-full). Pods take the bundle from the migrations image instead "
        "(components.kit.images.RDS_CA_BUNDLE). `cloudnative-pg` uses the stack's CA file from the runtime.",
    )
    migrations_image: str = Field(
        default="migrations",
        description="Platform image (images/digests.lock.json) whose Python runs the migrations Job.",
    )
    network: RdsNetwork | None = Field(
        default=None,
        description="`rds`: where the instance lives (a subnet group of these subnets, these security groups); "
        "without it AWS would place the instance in the default VPC, out of the cluster's reach.",
    )

    @field_validator("migrations_image")
    @classmethod
    def _platform_image(cls, name: str) -> str:
        images = platform_images()
        if name not in images:
            raise ValueError(f"must name a platform image of images/digests.lock.json: {', '.join(images)}")
        return name


class NodeSetSettings(_Section):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,22}$")] = Field(description="Node set name.")
    count: Annotated[int, Field(ge=1, le=50)] = Field(description="Nodes in the set.")
    roles: list[Literal["master", "data", "ingest"]] = Field(min_length=1, description="Elasticsearch node roles.")
    storage_gib: Annotated[int, Field(ge=1, le=16000)] = Field(description="Data volume per node, GiB.")
    memory_gib: Annotated[int, Field(ge=1, le=64)] = Field(description="Memory per node, GiB (heap is half).")

    @field_validator("roles")
    @classmethod
    def _once_each(cls, roles: list[str]) -> list[str]:
        if len(set(roles)) != len(roles):
            raise ValueError("names a role twice; list each role once")
        return roles


class LakehouseSettings(_Section):
    edition: Literal["community", "enterprise"] = Field(
        default="community",
        description="Dremio edition. `enterprise` (licensed) adds roles, grants and audit.json; a `community` "
        "stack has no access control inside Dremio, which the policy pack reports.",
    )
    version: Annotated[str, Field(pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$")] = Field(
        default="26.0.0", description="Dremio image tag (pinned; the same for coordinator and executors)."
    )
    size: Literal["small", "medium", "large"] = Field(
        description="Coordinator and executor sizing (components/lakehouse/component.py `SIZES`)."
    )
    executors: Annotated[int, Field(ge=1, le=50)] = Field(description="Executor replicas.")
    volume_gib: Annotated[int, Field(ge=10, le=10000)] = Field(description="Volume of each Dremio node, GiB.")
    slow_query_seconds: int = Field(
        default=30,
        description="Queries slower than this raise the slow-query alert; one of the query-duration histogram's "
        f"buckets ({', '.join(map(str, QUERY_SECONDS_BUCKETS))}).",
    )
    admin_user: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{2,31}$")] = Field(
        default="platform-admin", description="Name of Dremio's first administrator (its password is generated)."
    )

    @field_validator("slow_query_seconds")
    @classmethod
    def _a_bucket(cls, seconds: int) -> int:
        if seconds not in QUERY_SECONDS_BUCKETS:
            allowed = ", ".join(map(str, QUERY_SECONDS_BUCKETS))
            raise ValueError(f"must be a bucket of the query-duration histogram: one of {allowed}")
        return seconds


class LogsSettings(_Section):
    version: Annotated[str, Field(pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$")] = Field(
        default="9.5.0",
        description="Elasticsearch version ECK runs; its major must equal the pinned Python client's "
        "(docs/decisions/0009-elasticsearch-version.md).",
    )
    node_sets: list[NodeSetSettings] = Field(min_length=1, description="ECK node sets.")
    job_log_days: Annotated[int, Field(ge=1, le=3650)] = Field(
        description="Days job logs (`airbyte-logs-*`, `dbt-runs-*`) are kept; audit indices follow retention."
    )
    security_audit: bool = Field(
        default=False,
        description="Elasticsearch's own security audit log; needs a platinum or enterprise licence.",
    )

    @model_validator(mode="after")
    def _client_matches(self) -> LogsSettings:
        problems = []
        client = elasticsearch_client_version()
        if client and self.version.split(".")[0] != client.split(".")[0]:
            problems.append(Problem(
                "version", f"a different major from the installed elasticsearch client {client}; pin both to the "
                "same major (docs/decisions/0009-elasticsearch-version.md)", self.version))
        masters = sum(node_set.count for node_set in self.node_sets if "master" in node_set.roles)
        if masters == 0 or masters % 2 == 0:
            problems.append(Problem("nodeSets", f"have {masters} master-eligible nodes; use an odd number (1 or 3)"))
        for name in _repeated([node_set.name for node_set in self.node_sets]):
            problems.append(Problem("nodeSets", f"name `{name}` twice; node set names must be unique"))
        if not any("data" in node_set.roles for node_set in self.node_sets):
            problems.append(Problem("nodeSets", "have no `data` node; at least one node set needs the `data` role"))
        if not any("ingest" in node_set.roles for node_set in self.node_sets):
            problems.append(Problem("nodeSets", "have no `ingest` node; index templates and the log shipper need one"))
        if problems:
            raise InputError(*problems)
        return self

    @property
    def replicas(self) -> int:
        """Replicas of each index: one where there is a second data node to hold it, else none."""
        data_nodes = sum(node_set.count for node_set in self.node_sets if "data" in node_set.roles)
        return 1 if data_nodes > 1 else 0


def elasticsearch_client_version() -> str | None:
    try:
        return importlib.metadata.version("elasticsearch")
    except importlib.metadata.PackageNotFoundError:
        return None


class SourceEndpointSettings(_Section):
    """Where one catalog source lives; which keys apply depends on its `kind` in the catalog (`ENDPOINT_KEYS`)."""

    host: Annotated[str, Field(min_length=1, max_length=253, pattern=HOST)] | None = Field(
        default=None, description="Database host (postgres, mysql, mongodb)."
    )
    port: Annotated[int, Field(ge=1, le=65535)] | None = Field(
        default=None, description="Database port; None: the engine's default (5432, 3306, 27017)."
    )
    database: Annotated[str, Field(min_length=1, pattern=r"^[^\s/\\.\"$]{1,63}$")] | None = Field(
        default=None, description="Database to read (postgres, mysql, mongodb)."
    )
    schema_name: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")] | None = Field(
        default=None, alias="schema", description="PostgreSQL schema; None: `public`."
    )
    username: Annotated[str, Field(min_length=1, pattern=r"^[^\s:]{1,128}$")] | None = Field(
        default=None, description="Login of the database, or the access key id of the CSV files' bucket."
    )
    url: Annotated[str, Field(min_length=1, pattern=HTTPS_URL)] | None = Field(
        default=None, description="https URL of the REST API, or of the CSV files' S3 endpoint (None: AWS S3)."
    )
    bucket: Annotated[str, Field(min_length=1, pattern=S3_BUCKET)] | None = Field(
        default=None, description="Bucket the CSV files are dropped in (csv_files)."
    )
    region: Annotated[str, Field(min_length=1, pattern=AWS_REGION)] | None = Field(
        default=None, description="Region of the CSV files' bucket (csv_files)."
    )
    password: Annotated[SecretStr, Field(min_length=1)] | None = Field(
        default=None,
        description="The source's one secret (password, API key or secret access key). Set it as a secret: "
        "`pulumi config set --secret --path 'dataplatform:ingestion.sources.<name>.password'`.",
    )


# Per catalog source kind: the keys of `ingestion.sources.<name>` it needs, and those it may have besides.
ENDPOINT_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "postgres": (("host", "database", "username"), ("port", "schema", "password")),
    "mysql": (("host", "database", "username"), ("port", "password")),
    "mongodb": (("host", "database", "username"), ("port", "password")),
    "rest_api": (("url",), ("password",)),
    "csv_files": (("bucket", "region", "username"), ("url", "password")),
}


class IngestionSettings(_Section):
    workspace: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")] = Field(
        default="platform", description="Airbyte workspace that holds the catalog's sources and connections."
    )
    failure_webhook: Annotated[str, Field(pattern=HTTPS_URL)] | None = Field(
        default=None, description="https webhook (e.g. Slack) Airbyte notifies on failed syncs; None: no webhook."
    )
    job_size: Literal["small", "medium", "large"] = Field(description="Resources of each sync job's pods.")
    sources: dict[str, SourceEndpointSettings] = Field(
        default_factory=dict,
        description="Where each catalog source lives in this stack, by source name: one entry per source of the "
        "catalog, with the keys its kind needs (infra/model/inputs.py checks them against the catalog).",
    )


class PresentationSettings(_Section):
    size: Literal["small", "medium", "large"] = Field(description="Resources of each Superset pod.")


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
    metadata: MetadataSettings = Field(description="The metadata PostgreSQL server.")
    logs: LogsSettings = Field(description="The log and audit Elasticsearch cluster.")
    lakehouse: LakehouseSettings = Field(description="The Dremio lakehouse.")
    ingestion: IngestionSettings = Field(description="Airbyte: its jobs and where the catalog's sources live.")
    presentation: PresentationSettings = Field(description="Superset.")

    @model_validator(mode="after")
    def _cross_field_rules(self) -> StackConfig:
        problems = []
        longest = f"{self.name_prefix}-{self.stack}-{LONGEST_BUCKET_ROLE}"
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
    def object_store(self) -> ObjectStore:
        """The lake's S3 endpoint as its clients (Airbyte, Dremio) address it."""
        if self.storage.minio is not None:
            return ObjectStore(server=self.storage.minio.server, region=self.storage.minio.region)
        return ObjectStore(server=None, region=self.aws.region if self.aws is not None else "us-east-1")


@dataclass(frozen=True)
class StackIdentity:
    """What every layer shares about its stack: the physical-name prefix, the stack, its stage and protection."""

    name_prefix: str
    stack: str
    stage: Literal["dev", "prod"]
    protect: bool


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
    ]
    return [Problem(key, allowed, value) for ok, key, value, allowed in rules if not ok]


@cache
def platform_images(path: Path = IMAGE_LOCK) -> tuple[str, ...]:
    """Names of the platform's own images (images/digests.lock.json, written by CI)."""
    return tuple(sorted(json.loads(path.read_text())))


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
        "lakehouse": {"size": "small", "executors": 1, "volumeGib": 20},
        "ingestion": {"jobSize": "small"},
        "presentation": {"size": "small"},
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
        "lakehouse": {"size": "large", "executors": 3, "volumeGib": 200},
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


def parse_stack_config(values: dict[str, Any], stack: str, origin: str | None = None) -> StackConfig:
    """Validate project-namespace config values (keys without the `<project>:` prefix).

    Structured values may arrive as JSON strings, as the engine passes them to programs. Every problem is reported
    at once, one line each, as `Pulumi.<stack>.yaml: dataplatform:<key.path>: <what is allowed> (got <value>)`.
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
        return StackConfig.model_validate(document)
    except ValidationError as error:
        raise config_error(origin, validation_problems(error, document), prefix) from None


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
