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

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from infra import yamlio
from infra.errors import ConfigError, format_validation_error

CATALOG_PATH = Path(__file__).with_name("dataflow.yaml")

# The direction of the flow. The `logs` layer sits beside it: the platform's own log shipper writes it.
FLOW_LAYERS: tuple[str, ...] = ("bronze", "silver", "gold")
LAKE_LAYERS: tuple[str, ...] = (*FLOW_LAYERS, "logs")

IDENTIFIER = r"^[a-z][a-z0-9_]{0,62}$"
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
        for name, layer in layers.items():
            if layer.format != "parquet" and layer.codec not in TEXT_CODECS:
                raise ValueError(
                    f"layer '{name.value}': {layer.format} files take codec {' or '.join(TEXT_CODECS)}, "
                    f"not '{layer.codec}'"
                )
            allowed = LAYER_PARTITIONS[name.value]
            wrong = [key for key in layer.partitioning if key not in allowed]
            if wrong or len(set(layer.partitioning)) != len(layer.partitioning):
                raise ValueError(
                    f"layer '{name.value}': partitioning {layer.partitioning} is not one its writer makes; "
                    f"use keys from {list(allowed)}, each once"
                )
        bronze = layers[LayerName.bronze]
        if bronze.format != "parquet" or bronze.partitioning != ["date"]:
            raise ValueError(
                "layer 'bronze' is written by Airbyte's S3 destination as Parquet under `date=` folders: "
                "set `format: parquet` and `partitioning: [date]`"
            )
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
            raise ValueError("`at` is only allowed with `every: 1d`")
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
    cursor_field: str | None = Field(default=None, description="Column that orders changes (incremental).")
    primary_key: list[str] = Field(min_length=1, description="Columns that identify a row.")

    @model_validator(mode="after")
    def _modes(self) -> Stream:
        if self.sync_mode == "incremental" and not self.cursor_field:
            raise ValueError(f"stream '{self.name}': incremental sync needs `cursor_field`")
        if self.destination_sync_mode == "append_dedup":
            raise ValueError(
                f"stream '{self.name}': the lake's S3 destination cannot deduplicate; use `append` "
                "(staging in dbt keeps the latest version of each row)"
            )
        return self


class Source(_Strict):
    name: Annotated[str, Field(pattern=IDENTIFIER)] = Field(description="Source name; the bronze folder.")
    description: str = Field(description="What the source is.")
    kind: Literal["postgres", "mysql", "mongodb", "rest_api", "csv_files"] = Field(description="Connector kind.")
    replication: Literal["cdc", "standard"] = Field(description="Log-based CDC or cursor/full reads.")
    schedule: Schedule = Field(description="How often the connection syncs.")
    streams: list[Stream] = Field(min_length=1, description="Streams synced from this source.")

    @model_validator(mode="after")
    def _unique_streams(self) -> Source:
        _require_unique([stream.name for stream in self.streams], f"source '{self.name}' streams")
        if self.replication == "cdc" and self.kind not in ("postgres", "mysql", "mongodb"):
            raise ValueError(f"source '{self.name}': CDC is only available for postgres, mysql and mongodb")
        return self


class Transformations(_Strict):
    project: Annotated[str, Field(pattern=IDENTIFIER)] = Field(description="dbt project name.")
    description: str = Field(description="What the transformations do.")
    reads: list[FlowLayer] = Field(description="Layers dbt reads.")
    writes: list[FlowLayer] = Field(description="Layers dbt writes.")
    schedule: Schedule = Field(description="How often the dbt runner builds.")


class Reflection(_Strict):
    type: Literal["raw", "aggregation"] = Field(description="Dremio reflection type.")
    display: list[str] = Field(default_factory=list, description="Columns of a raw reflection.")
    dimensions: list[str] = Field(default_factory=list, description="Dimensions of an aggregation reflection.")
    measures: list[str] = Field(default_factory=list, description="Measures of an aggregation reflection.")

    @model_validator(mode="after")
    def _fields_for_type(self) -> Reflection:
        if self.type == "raw" and not self.display:
            raise ValueError("a raw reflection needs `display` columns")
        if self.type == "aggregation" and not (self.dimensions and self.measures):
            raise ValueError("an aggregation reflection needs `dimensions` and `measures`")
        return self


class Mart(_Strict):
    name: Annotated[str, Field(pattern=IDENTIFIER)] = Field(description="dbt model name of the mart.")
    description: str = Field(description="What the mart answers.")
    grain: list[str] = Field(min_length=1, description="Columns that identify a row of the mart.")
    reflection: Reflection | None = Field(default=None, description="Dremio reflection dbt declares on it.")


class Role(_Strict):
    name: Annotated[str, Field(pattern=IDENTIFIER)] = Field(description="Role name, used in every system.")
    description: str = Field(description="Who holds the role.")
    reads: list[FlowLayer] = Field(description="Layers the role reads.")
    writes: list[FlowLayer] = Field(description="Layers the role writes (and so may read).")
    storage: bool = Field(description="Whether the role gets object-store credentials of its own.")

    @model_validator(mode="after")
    def _one_way(self) -> Role:
        for written in self.writes:
            for read in self.reads:
                if FLOW_LAYERS.index(written) < FLOW_LAYERS.index(read):
                    raise ValueError(
                        f"role '{self.name}' reads {read} and writes {written}: writing upstream of a layer "
                        "it reads breaks the one-way flow"
                    )
        return self

    @property
    def readable(self) -> tuple[str, ...]:
        """Layers the role may read: what it reads plus what it writes, in flow order."""
        return tuple(layer for layer in FLOW_LAYERS if layer in self.reads or layer in self.writes)


# Namespaced layers a service can run in (one namespace per layer, see components/cluster.py).
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
        for written in self.transformations.writes:
            layer = self.lake.layer(written)
            if layer.format != "parquet" or layer.codec not in DBT_CODECS:
                raise ValueError(
                    f"layer '{written}' is written by dbt as Parquet: set `format: parquet` and a codec of "
                    f"{', '.join(DBT_CODECS)} (got {layer.format}, {layer.codec})"
                )
        _require_unique([source.name for source in self.sources], "source names")
        _require_unique([mart.name for mart in self.marts], "mart names")
        _require_unique([role.name for role in self.roles], "role names")
        _require_unique([service.name for service in self.services], "service names")
        names = {service.name for service in self.services}
        roles = {role.name for role in self.roles}
        for service in self.services:
            unknown = [used for used in service.uses if used not in names]
            if unknown:
                raise ValueError(f"service '{service.name}' uses undeclared services: {', '.join(unknown)}")
            if service.role is not None and service.role not in roles:
                raise ValueError(f"service '{service.name}' acts as role '{service.role}', which is not declared")
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


def _require_unique(names: list[str], what: str) -> None:
    seen: set[str] = set()
    duplicated = sorted({name for name in names if name in seen or seen.add(name)})
    if duplicated:
        raise ValueError(f"{what} must be unique; repeated: {', '.join(duplicated)}")


def parse_catalog(document: object, origin: str = "catalog") -> Catalog:
    """Validate a parsed catalog document; raise ConfigError naming the key path on any problem."""
    try:
        return Catalog.model_validate(document)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, origin)) from None


def load_catalog(path: Path | None = None) -> Catalog:
    """Read and validate the catalog file (by default the checked-in `infra/dataflow.yaml`)."""
    path = path or CATALOG_PATH
    try:
        document = yamlio.load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: the data-flow catalog is missing; restore infra/dataflow.yaml") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    return parse_catalog(document, str(path))
