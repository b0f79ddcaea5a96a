"""The data-flow catalog: typed models over `infra/dataflow.yaml` and the derivations every layer uses.

The catalog is environment-independent. It names the sources and their streams, the lake layers, the
marts and the roles; storage prefixes, grants, dbt sources and network flows are derived from it here, so
one edit changes every layer consistently.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal
from uuid import UUID

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from infra.model import yamlio
from infra.model.errors import MISSING, ConfigError, InputError, Problem, config_error, validation_problems
from infra.model.sections import repeated_names

CATALOG_PATH = Path(__file__).resolve().parents[1] / "dataflow.yaml"
PROJECT_ROOT = CATALOG_PATH.parent.parent

# The direction of the flow. The `logs` layer sits beside it: the platform's own log shipper writes it.
FLOW_LAYERS: tuple[str, ...] = ("bronze", "silver", "gold")
LAKE_LAYERS: tuple[str, ...] = (*FLOW_LAYERS, "logs")

IDENTIFIER = r"^[a-z][a-z0-9_]{0,62}$"

# What the platform's products are wired to in the catalog. A catalog may add roles and services and change what
# each reads or writes; these must stay, or a product would have no identity, login or grant to work with.
PLATFORM_ROLES: dict[str, str] = {
    "ingestion": "Airbyte lands bronze as it",
    "transformation": "dbt builds silver and gold as it",
    "query_engine": "Dremio reads the lake as it",
    "bi": "Superset queries Dremio as it",
    "analyst": "Superset's analyst role is it",
    "data_engineer": "it reads the platform's run history in PostgreSQL",
}
# Roles whose products reach the object store with keys of their own (components/storage/access.py identities).
STORAGE_ROLES: tuple[str, ...] = ("ingestion", "transformation", "query_engine")
# The services that act as those roles, and the services each must call.
PLATFORM_SERVICES: dict[str, tuple[str, tuple[str, ...]]] = {
    "airbyte": ("ingestion", ()),
    "dbt": ("transformation", ("dremio",)),
    "dremio": ("query_engine", ()),
    "superset": ("bi", ("dremio",)),
}
_EVERY = re.compile(r"^(?P<count>[1-9][0-9]*)(?P<unit>[mhd])$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LayerName(StrEnum):
    bronze = "bronze"
    silver = "silver"
    gold = "gold"
    logs = "logs"


FlowLayer = Literal["bronze", "silver", "gold"]


# The Parquet codecs of Airbyte's S3 destination (its connection spec's `compression_codec` enum), lower-cased.
Codec = Literal["uncompressed", "snappy", "gzip", "lzo", "brotli", "lz4", "zstd"]
# Codecs of JSON and CSV files (the S3 destination's `compression_type`: no compression or GZIP).
TEXT_CODECS = ("uncompressed", "gzip")
# What dbt's local target (DuckDB's Parquet writer) can write; it has no LZO.
DBT_CODECS = ("uncompressed", "snappy", "gzip", "brotli", "lz4", "zstd")
PartitionKey = Literal["date", "business_key", "period", "service"]
# Which partition keys each layer's writer can produce: Airbyte lands bronze by load date; dbt partitions silver
# by business key and gold by period; the log shipper writes logs by service and date.
LAYER_PARTITIONS: dict[str, tuple[str, ...]] = {
    "bronze": ("date",),
    "silver": ("business_key",),
    "gold": ("period",),
    "logs": ("service", "date"),
}


# No partitioning scheme may make more folders per dataset than this (listing and small files cost per folder).
MAX_PARTITION_FOLDERS = 1000


class Layer(_Strict):
    description: str = Field(description="What the layer holds.")
    format: Literal["parquet", "json", "csv"] = Field(description="File format objects are written in.")
    codec: Codec = Field(
        description="Compression codec of the files: for Parquet one of Airbyte's S3 destination codecs "
        "(uncompressed, snappy, gzip, lzo, brotli, lz4, zstd); for json and csv `gzip` or `uncompressed`."
    )
    partitioning: list[PartitionKey] = Field(description="Partition keys, outermost first.")
    retention_days: Annotated[int, Field(ge=0)] = Field(
        description="Days after which current objects expire; 0 keeps them forever."
    )
    buckets: Annotated[int, Field(ge=1, le=MAX_PARTITION_FOLDERS)] | None = Field(
        default=None,
        description="With `business_key` partitioning: how many hash buckets of a dataset's key (one folder each), "
        "whatever the number of rows.",
    )
    period: Literal["year", "month"] | None = Field(
        default=None,
        description="With `period` partitioning: the calendar period of a dataset's date that one folder holds.",
    )


class Lake(_Strict):
    layers: dict[LayerName, Layer] = Field(description="The four lake layers, keyed by name.")
    noncurrent_version_days: Annotated[int, Field(ge=1)] = Field(
        description="Days a superseded object version is kept before it expires."
    )

    @field_validator("layers")
    @classmethod
    def _all_layers(cls, layers: dict[LayerName, Layer]) -> dict[LayerName, Layer]:
        missing = [name for name in LAKE_LAYERS if LayerName(name) not in layers]
        if missing:
            raise ValueError(f"every lake layer must be declared; missing: {', '.join(missing)}")
        problems = []
        for name, layer in layers.items():
            if layer.format != "parquet" and layer.codec not in TEXT_CODECS:
                problems.append(Problem(f"{name.value}.codec", f"{layer.format} files take codec "
                                                               f"{' or '.join(TEXT_CODECS)}", layer.codec))
            allowed = LAYER_PARTITIONS[name.value]
            wrong = [key for key in layer.partitioning if key not in allowed]
            if wrong or len(set(layer.partitioning)) != len(layer.partitioning):
                problems.append(Problem(f"{name.value}.partitioning", "not one the layer's writer makes; use keys "
                                        f"from {list(allowed)}, each once", layer.partitioning))
            for key, setting, what in (("business_key", "buckets", f"a bucket count (1 to {MAX_PARTITION_FOLDERS})"),
                                       ("period", "period", "`year` or `month`")):
                value = getattr(layer, setting)
                if key in layer.partitioning and value is None:
                    problems.append(Problem(f"{name.value}.{setting}", f"partitioning by {key} needs {what}"))
                elif key not in layer.partitioning and value is not None:
                    problems.append(Problem(f"{name.value}.partitioning", f"`{setting}` is set: partition by {key}, "
                                            f"or remove `{setting}`", layer.partitioning))
        bronze = layers[LayerName.bronze]
        if bronze.format != "parquet":
            problems.append(Problem("bronze.format", "Airbyte's S3 destination writes bronze as Parquet: set "
                                                     "`parquet`", bronze.format))
        if bronze.partitioning != ["date"] and not any(p.path == "bronze.partitioning" for p in problems):
            problems.append(Problem("bronze.partitioning", "Airbyte's S3 destination writes bronze under `date=` "
                                                           "folders: set `[date]`", bronze.partitioning))
        if problems:
            raise InputError(*problems)
        return layers

    def layer(self, name: str) -> Layer:
        return self.layers[LayerName(name)]


class Schedule(_Strict):
    """One schedule form for every target: `every: 30m|6h|1d` (optionally `at: HH:MM`) or `continuous`."""

    every: str = Field(description="Interval as <N>m, <N>h or <N>d, or `continuous`.")
    at: str | None = Field(default=None, description="Time of day (HH:MM, UTC) for daily schedules.")

    @field_validator("every")
    @classmethod
    def _interval(cls, every: str) -> str:
        if every == "continuous":
            return every
        match = _EVERY.match(every)
        if not match:
            raise ValueError(f"'{every}' is not an interval; write <N>m, <N>h, <N>d or 'continuous'")
        count, unit = int(match["count"]), match["unit"]
        limits = {"m": 59, "h": 23, "d": 1}
        if unit == "m" and 60 % count:
            raise ValueError(f"'{every}': minutes must divide 60 (5m, 10m, 15m, 20m, 30m)")
        if unit == "h" and 24 % count:
            raise ValueError(f"'{every}': hours must divide 24 (1h, 2h, 3h, 4h, 6h, 8h, 12h)")
        if count > limits[unit]:
            raise ValueError(f"'{every}': at most {limits[unit]}{unit}")
        return every

    @field_validator("at")
    @classmethod
    def _time_of_day(cls, at: str | None) -> str | None:
        if at is not None and not re.match(r"^([01][0-9]|2[0-3]):[0-5][0-9]$", at):
            raise ValueError(f"'{at}' is not a time of day; write HH:MM (UTC)")
        return at

    @model_validator(mode="after")
    def _at_needs_daily(self) -> Schedule:
        if self.at is not None and self.every != "1d":
            raise InputError(Problem("at", "only allowed with `every: 1d`", self.at))
        return self

    @property
    def minutes(self) -> int:
        """Interval in minutes; `continuous` counts as 0."""
        if self.every == "continuous":
            return 0
        match = _EVERY.match(self.every)
        assert match is not None
        return int(match["count"]) * {"m": 1, "h": 60, "d": 1440}[match["unit"]]


class Stream(_Strict):
    name: Annotated[str, Field(pattern=IDENTIFIER)] = Field(description="Stream (table) name at the source.")
    sync_mode: Literal["full_refresh", "incremental"] = Field(description="How Airbyte reads the stream.")
    destination_sync_mode: Literal["append", "overwrite", "append_dedup"] = Field(
        description="How the destination writes it. The lake's S3 destination accepts append and overwrite."
    )
    cursor_field: str | None = Field(
        default=None,
        description="Column that orders changes (incremental). Required for an incremental stream of a `standard` "
        "source; a `cdc` source defines the cursor itself (the log position) and takes none.",
    )
    primary_key: list[str] = Field(min_length=1, description="Columns that identify a row.")

    @model_validator(mode="after")
    def _modes(self) -> Stream:
        problems = []
        if self.destination_sync_mode == "append_dedup":
            problems.append(Problem(
                "destination_sync_mode", "the lake's S3 destination cannot deduplicate; use `append` (staging in dbt "
                "keeps the latest version of each row)", self.destination_sync_mode))
        if problems:
            raise InputError(*problems)
        return self


class Source(_Strict):
    name: Annotated[str, Field(pattern=IDENTIFIER)] = Field(description="Source name; the bronze folder.")
    description: str = Field(description="What the source is.")
    kind: Literal["postgres", "mysql", "mongodb", "rest_api", "csv_files"] = Field(
        description="Connector kind: a database, CSV files on S3, or `rest_api`: any Airbyte connector, named by "
        "`connector` and configured from the stack config (`ingestion.sources.<name>.configuration`)."
    )
    connector: UUID | None = Field(
        default=None,
        description="Airbyte connector definition id (the registry's `sourceDefinitionId`); required with kind "
        "`rest_api`. The other kinds use their own connector (source-postgres, -mysql, -mongodb-v2, -s3).",
    )
    replication: Literal["cdc", "standard"] = Field(description="Log-based CDC or cursor/full reads.")
    schedule: Schedule = Field(description="How often the connection syncs.")
    streams: list[Stream] = Field(min_length=1, description="Streams synced from this source.")

    @model_validator(mode="after")
    def _unique_streams(self) -> Source:
        problems = [Problem("streams", f"name `{name}` twice; stream names must be unique")
                    for name in repeated_names([stream.name for stream in self.streams])]
        if self.replication == "cdc" and self.kind not in ("postgres", "mysql", "mongodb"):
            problems.append(Problem("replication", f"cdc is only available for postgres, mysql and mongodb sources, "
                                                   f"not {self.kind}; use `standard`", self.replication))
        if self.kind == "rest_api" and self.connector is None:
            problems.append(Problem("connector", "required with kind `rest_api`: the definition id of the Airbyte "
                                                 "connector that reads it"))
        if self.kind != "rest_api" and self.connector is not None:
            problems.append(Problem("connector", f"only with kind `rest_api`; a {self.kind} source uses Airbyte's "
                                                 f"{self.kind} connector", str(self.connector)))
        for stream in self.streams:
            where = f"streams[{stream.name}].cursor_field"
            if self.replication == "cdc" and stream.cursor_field:
                problems.append(Problem(where, "a cdc source defines the cursor itself (its log position) and "
                                               "Airbyte refuses another; remove it", stream.cursor_field))
            elif self.replication != "cdc" and stream.sync_mode == "incremental" and not stream.cursor_field:
                problems.append(Problem(where, "required with `sync_mode: incremental` (a `standard` source has no "
                                               "cursor of its own)"))
        if problems:
            raise InputError(*problems)
        return self


class Transformations(_Strict):
    project: Annotated[str, Field(pattern=IDENTIFIER)] = Field(description="dbt project name.")
    description: str = Field(description="What the transformations do.")
    reads: list[FlowLayer] = Field(description="Layers dbt reads.")
    writes: list[FlowLayer] = Field(description="Layers dbt writes.")
    schedule: Schedule = Field(
        description="When the batch runs (components/lakehouse/batch.py): the syncs of the sources the marts read, "
        "`dbt build`, the reflections' refresh and the dashboards' warm-up, in that order.")


class Reflection(_Strict):
    type: Literal["raw", "aggregation"] = Field(description="Dremio reflection type.")
    display: list[str] = Field(default_factory=list, description="Columns of a raw reflection.")
    dimensions: list[str] = Field(default_factory=list, description="Dimensions of an aggregation reflection.")
    measures: list[str] = Field(default_factory=list, description="Measures of an aggregation reflection.")
    refresh: Schedule = Field(
        default=Schedule(every="1h"),
        description="How often Dremio refreshes the reflection (`every: <N>m|<N>h|1d`), set as the refresh policy of "
        "the physical datasets under the mart; the batch also refreshes it after every build.",
    )

    @model_validator(mode="after")
    def _fields_for_type(self) -> Reflection:
        problems = []
        if self.refresh.every == "continuous" or self.refresh.at is not None:
            problems.append(Problem("refresh", "a refresh policy is a period: write `every: <N>m`, `<N>h` or `1d`, "
                                               "without `at`", self.refresh.model_dump(exclude_none=True)))
        if self.type == "raw" and not self.display:
            problems.append(Problem("display", "a raw reflection needs `display` columns"))
        if self.type == "aggregation":
            problems += [Problem(key, f"an aggregation reflection needs `{key}`")
                         for key, columns in (("dimensions", self.dimensions), ("measures", self.measures))
                         if not columns]
        if problems:
            raise InputError(*problems)
        return self


class Mart(_Strict):
    name: Annotated[str, Field(pattern=IDENTIFIER)] = Field(description="dbt model name of the mart.")
    description: str = Field(description="What the mart answers.")
    grain: list[str] = Field(min_length=1, description="Columns that identify a row of the mart.")
    reflection: Reflection | None = Field(default=None, description="Dremio reflection dbt declares on it.")
    dataset_uuid: UUID | None = Field(
        default=None,
        description="Uuid of the mart's Superset dataset, by which its charts and Superset's importer know it. Unset, "
        "it is derived from the mart's name; set, it keeps the identity of a dataset Superset already holds.",
    )


class Role(_Strict):
    name: Annotated[str, Field(pattern=IDENTIFIER)] = Field(description="Role name, used in every system.")
    description: str = Field(description="Who holds the role.")
    reads: list[FlowLayer] = Field(description="Layers the role reads.")
    writes: list[FlowLayer] = Field(description="Layers the role writes (and so may read).")
    storage: bool = Field(description="Whether the role gets object-store credentials of its own.")

    @model_validator(mode="after")
    def _one_way(self) -> Role:
        problems = [
            Problem("writes", f"role '{self.name}' reads {read} and writes {written}: writing upstream of a layer "
                              "it reads breaks the one-way flow", self.writes)
            for written in self.writes
            for read in self.reads
            if FLOW_LAYERS.index(written) < FLOW_LAYERS.index(read)
        ]
        if problems:
            raise InputError(*problems)
        return self

    @property
    def readable(self) -> tuple[str, ...]:
        """Layers the role may read: what it reads plus what it writes, in flow order."""
        return tuple(layer for layer in FLOW_LAYERS if layer in self.reads or layer in self.writes)


# Namespaced layers a service can run in (one namespace per layer, see components/kit/cluster.py).
ServiceLayer = Literal["system", "storage", "metadata", "logs", "lakehouse", "ingestion", "presentation", "monitoring",
                       "deploy"]


class ServicePort(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,14}$")] = Field(description="Port name.")
    port: Annotated[int, Field(ge=1, le=65535)] = Field(description="TCP port the service listens on.")
    purpose: Literal["serve", "admin", "metrics", "webhook"] = Field(
        default="serve",
        description="`serve`: for the services that use it; `admin`: also for the deployer; `metrics`: for "
        "Prometheus only; `webhook`: for the Kubernetes API server.",
    )


class Service(_Strict):
    """A workload in the cluster and whom it talks to; NetworkPolicies are derived from these and the roles."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")] = Field(description="Service name.")
    description: str = Field(description="What runs there.")
    layer: ServiceLayer = Field(description="Layer whose namespace it runs in.")
    role: str | None = Field(default=None, description="Catalog role it acts as; storage roles reach the lake.")
    ports: list[ServicePort] = Field(default_factory=list, description="Ports it listens on.")
    uses: list[str] = Field(default_factory=list, description="Services it calls (their serve and admin ports).")
    kubernetes_api: bool = Field(default=False, description="Whether it calls the Kubernetes API server.")
    scrapes: bool = Field(default=False, description="Whether it scrapes every service's metrics ports.")
    deploys: bool = Field(default=False, description="Whether it is the deployer (reaches every admin port).")


class Catalog(_Strict):
    version: Literal[1] = Field(description="Catalog format version.")
    lake: Lake = Field(description="Lake layers and version retention.")
    sources: list[Source] = Field(min_length=1, description="Ingestion sources and their streams.")
    transformations: Transformations = Field(description="The dbt project's place in the flow.")
    marts: list[Mart] = Field(min_length=1, description="Gold marts built by dbt and served to consumers.")
    roles: list[Role] = Field(min_length=1, description="Roles and the layers they read or write.")
    services: list[Service] = Field(
        default_factory=list, description="Workloads in the cluster and whom they call (NetworkPolicies)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Catalog:
        problems = [
            Problem(key, f"names `{name}` twice; names must be unique")
            for key, names in (("sources", [source.name for source in self.sources]),
                               ("marts", [mart.name for mart in self.marts]),
                               ("roles", [role.name for role in self.roles]),
                               ("services", [service.name for service in self.services]))
            for name in repeated_names(names)
        ]
        pinned = [str(mart.dataset_uuid) for mart in self.marts if mart.dataset_uuid is not None]
        problems += [Problem("marts", f"gives dataset uuid `{given}` to more than one mart; each mart's Superset "
                                      "dataset needs its own") for given in repeated_names(pinned)]
        for written in self.transformations.writes:
            layer = self.lake.layer(written)
            if layer.format != "parquet":
                problems.append(Problem(f"lake.layers.{written}.format", "dbt writes this layer as Parquet: set "
                                                                         "`parquet`", layer.format))
            elif layer.codec not in DBT_CODECS:
                problems.append(Problem(f"lake.layers.{written}.codec", "dbt writes this layer: use a codec it can "
                                        f"write, one of {', '.join(DBT_CODECS)}", layer.codec))
        names = {service.name for service in self.services}
        roles = {role.name for role in self.roles}
        problems += _platform_problems(self)
        for service in self.services:
            for used in service.uses:
                if used not in names:
                    problems.append(Problem(f"services[{service.name}].uses", f"'{used}' is not a service of the "
                                            f"catalog; declared: {', '.join(sorted(names))}"))
            if service.role is not None and service.role not in roles:
                problems.append(Problem(f"services[{service.name}].role", "must be a role of the catalog: "
                                        f"{', '.join(sorted(roles))}", service.role))
        if problems:
            raise InputError(*problems)
        return self

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(f"the catalog declares no service '{name}'")

    def role(self, name: str) -> Role:
        for role in self.roles:
            if role.name == name:
                return role
        raise KeyError(f"the catalog declares no role '{name}'")

    def bronze_datasets(self) -> list[BronzeDataset]:
        """Every stream as the bronze dataset it lands in."""
        return [
            BronzeDataset(source=source.name, stream=stream.name, primary_key=tuple(stream.primary_key))
            for source in self.sources
            for stream in source.streams
        ]


class BronzeDataset(BaseModel):
    model_config = ConfigDict(frozen=True)

    source: str
    stream: str
    primary_key: tuple[str, ...]

    @property
    def prefix(self) -> str:
        """Object prefix inside the bronze bucket: `<source>/<stream>/` (the seed's lake layout)."""
        return f"{self.source}/{self.stream}/"

    @property
    def partition_template(self) -> str:
        """The date-partitioned path files land under, as in the seed: `<source>/<stream>/date=YYYY-MM-DD/`."""
        return f"{self.prefix}date={{date}}/"


def _platform_problems(catalog: Catalog) -> list[Problem]:
    """What the platform's products need of the catalog (PLATFORM_ROLES, STORAGE_ROLES, PLATFORM_SERVICES)."""
    problems = []
    roles = {role.name: role for role in catalog.roles}
    for name, why in PLATFORM_ROLES.items():
        if name not in roles:
            problems.append(Problem("roles", f"must declare `{name}`: {why}"))
    for name in STORAGE_ROLES:
        if name in roles and not roles[name].storage:
            problems.append(Problem(f"roles[{name}].storage", f"must be true: {PLATFORM_ROLES[name]} with "
                                                              "object-store keys of its own", False))
    if "analyst" in roles and "gold" not in roles["analyst"].readable:
        problems.append(Problem("roles[analyst].reads", "must include gold: Superset's analyst role reads the marts",
                                roles["analyst"].reads))
    services = {service.name: service for service in catalog.services}
    for name, (role, calls) in PLATFORM_SERVICES.items():
        service = services.get(name)
        if service is None:
            problems.append(Problem("services", f"must declare `{name}`, acting as role `{role}`"))
            continue
        if service.role != role:
            problems.append(Problem(f"services[{name}].role", f"must be `{role}`: {PLATFORM_ROLES[role]}",
                                    service.role if service.role is not None else MISSING))
        for called in calls:
            if called not in service.uses:
                problems.append(Problem(f"services[{name}].uses", f"must include `{called}`: {name} works through it",
                                        service.uses))
    return problems


def catalog_origin(path: Path) -> str:
    """The catalog file as messages name it: relative to the project when it is inside it."""
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def parse_catalog(document: object, origin: str = "catalog") -> Catalog:
    """Validate a parsed catalog document; raise ConfigError naming each problem's key path (items by name)."""
    try:
        return Catalog.model_validate(document)
    except ValidationError as error:
        raise config_error(origin, validation_problems(error, document)) from None


def load_catalog(path: Path | None = None) -> Catalog:
    """Read and validate the catalog file (by default the checked-in `infra/dataflow.yaml`)."""
    path = path or CATALOG_PATH
    origin = catalog_origin(path)
    try:
        document = yamlio.load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: the data-flow catalog is missing; restore infra/dataflow.yaml") from None
    except yamlio.DuplicateKeyError as error:
        raise ConfigError(error.describe(origin)) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{origin}: not valid YAML: {error}") from None
    return parse_catalog(document, origin)
