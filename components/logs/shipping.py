"""Fluent Bit configuration for the runtime's DaemonSet, collected from what each product ships.

Pure text, rendered once per stack; the runtime's `fluent-bit` release takes `render(sources)`'s sections as its
chart's `config.inputs`, `config.filters`, `config.outputs` and `config.customParsers` (the chart's service section
already loads `custom_parsers.conf`), and `lua_scripts(sources)` as its `luaScripts`.

This module owns the shipper itself and knows no product: the inputs every stack has (container logs from the
kubelet's files, tagged `kube.*`, and an https webhook on AUDIT_PORT whose URL path is the tag), the outputs (one
Elasticsearch output per index family, a `prometheus_exporter` for series derived from logs), and the building
blocks below. Each product describes its own logs as a `LogSource` in its folder (`components/<product>/
log_routes.py`): which container logs it claims (a `rewrite_tag` rule on the kubelet's metadata), any input of
its own, its parsers, its filters, and its routes. `DataPlatform` (components/platform.py) lists the sources.

Rules every source keeps, and `render` checks:
- a route's tag belongs to one source, and its filters end with the allowlist of its index's mapped fields
  (`allow(route)`), so nothing unmapped is sent; container logs no source claims are not shipped (they stay with
  the kubelet);
- parsers and Lua scripts are named once (a name two sources define differently is an error).

The lake's `logs` layer (`LakeLogs`, given by the platform when the stack has the layer's writer): every route's
records, as they leave for Elasticsearch, also go to one `s3` output as gzip-compressed JSON lines under
`<prefix>/service=<tag's first part>/dt=YYYY-MM-DD/`, through PutObject only (see `s3_output`).

Metrics from logs (`log_to_metrics`, exposed by the `prometheus_exporter` output on LOG_METRICS_PORT,
`/metrics`): a source puts a `LogMetric`'s section among its filters. Fluent Bit names a series
`<namespace>_<subsystem>_<name>`; the namespace defaults to `log_metric` and the subsystem to the metric's mode,
so `LogMetric.series` is what Prometheus stores and what the alerts read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from components.logs.spec import AUDIT_FIELDS, AUDIT_TRAIL
from infra.model.naming import service_host

ELASTICSEARCH_HOST = service_host("logs-es-http", "logs")
ELASTICSEARCH_PORT = 9200
AUDIT_PORT = 8443
KUBE_TAG = "kube.*"
KUBELET_PODS = "/var/lib/kubelet/pods"
TLS_DIR = "/fluent-bit/tls"
STATE_DIR = "/var/fluent-bit/state"
# Where the chart mounts its `luaScripts` ConfigMap in the shipper's container.
LUA_DIR = "/fluent-bit/scripts"
# The `prometheus_exporter` output's port; the built-in HTTP server (2020) serves only Fluent Bit's own metrics.
LOG_METRICS_PORT = 2021
LOG_METRICS_PATH = "/metrics"
# The Service port's name, which Prometheus's targets carry as `endpoint`.
LOG_METRICS_ENDPOINT = "log-metrics"
LOG_METRICS_TAG_PREFIX = "logmetrics"


# Where the s3 output buffers records before each upload (its `store_dir`, a writable volume of the pod).
LAKE_STORE_DIR = "/var/fluent-bit/s3"
# Each object holds up to this many bytes of JSON (before gzip), or what arrived within LAKE_UPLOAD_TIMEOUT.
LAKE_FILE_SIZE = "8M"
LAKE_UPLOAD_TIMEOUT = "5m"


@dataclass(frozen=True)
class LakeLogs:
    """The lake's `logs` layer as the shipper writes it: the bucket, the writer's own key prefix (no slashes at the
    ends), the region, and MinIO's https URL with the CA file that verifies it (None on AWS S3: the regional
    endpoint, public CAs)."""

    bucket: str
    prefix: str
    region: str
    endpoint: str | None = None
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if not self.prefix or self.prefix[0] == "/" or self.prefix[-1] == "/" or {"$", "%"} & set(self.prefix):
            raise ValueError(f"lake log prefix {self.prefix!r}: give it without leading or trailing '/', no '$' or '%'")

    @property
    def key_format(self) -> str:
        """out_s3's `s3_key_format`: the tag's first part is the service (tags are `<service>.<kind>`), the date is
        the UTC day of the first record in the object (strftime over gmtime), `$UUID` keeps keys unique, so no
        object is ever overwritten; out_s3 requires the leading '/' and puts the key after `/<bucket>` in the URL
        (fluent/fluent-bit plugins/out_s3/s3.c@v5.1.1 `s3_put_object`, src/aws/flb_aws_util.c@v5.1.1
        `flb_get_s3_key`)."""
        return f"/{self.prefix}/service=$TAG[0]/dt=%Y-%m-%d/%H%M%S-$UUID.json.gz"


def section(kind: str, entries: Sequence[tuple[str, str]]) -> str:
    """One `[KIND]` section of Fluent Bit's classic configuration, keys aligned."""
    width = max(len(key) for key, _ in entries) + 2
    return f"[{kind}]\n" + "".join(f"    {key.ljust(width)}{value}\n" for key, value in entries)


@dataclass(frozen=True)
class Parser:
    """A `[PARSER]` of custom_parsers.conf; regular expressions are Onigmo's (Fluent Bit's engine), named groups
    become record keys."""

    name: str
    entries: Mapping[str, str]

    def section(self) -> str:
        return section("PARSER", [("Name", self.name), *self.entries.items()])


# Parsers more than one source uses.
JSON_LINE = Parser("json_line", {"Format": "json"})
ISO8601_TIME = Parser("iso8601_time", {
    "Format": "regex",
    "Regex": r"^(?<time>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))$",
    "Time_Key": "time",
    "Time_Format": "%Y-%m-%dT%H:%M:%S.%L%z",
})


@dataclass(frozen=True)
class Route:
    """Records tagged `tag` go to the daily indices `<index_prefix>-YYYY.MM.DD`, keeping only `fields`."""

    tag: str
    index_prefix: str
    fields: tuple[str, ...]


def audit_route(tag: str) -> Route:
    """A route into the platform's audit trail."""
    return Route(tag, AUDIT_TRAIL, tuple(AUDIT_FIELDS))


@dataclass(frozen=True)
class LogMetric:
    """One `log_to_metrics` filter: what it observes, and the series name Fluent Bit gives it."""

    name: str
    mode: str
    match: str
    description: str
    value_field: str | None = None
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()
    rules: tuple[tuple[str, str, str], ...] = ()
    """(`Regex` or `Exclude`, record key, regular expression), applied in order."""
    discard_logs: bool = False

    @property
    def series(self) -> str:
        return f"log_metric_{self.mode}_{self.name}"

    @property
    def tag(self) -> str:
        return f"{LOG_METRICS_TAG_PREFIX}.{self.name}"

    def section(self) -> str:
        entries = [("Name", "log_to_metrics"), ("Match", self.match), ("Tag", self.tag),
                   ("Metric_Mode", self.mode), ("Metric_Name", self.name), ("Metric_Description", self.description)]
        if self.value_field:
            entries.append(("Value_Field", self.value_field))
        entries += [("Label_Field", label) for label in self.labels]
        entries += [("Bucket", f"{bucket:g}") for bucket in self.buckets]
        entries += [(kind, f"{key} {pattern}") for kind, key, pattern in self.rules]
        # Emit every 10 s rather than once per record (the docs' advice under load); Prometheus scrapes every 30 s.
        entries += [("Flush_Interval_Sec", "10"), ("Emitter_Name", f"{self.name}_emitter"),
                    ("Discard_Logs", "On" if self.discard_logs else "Off")]
        return section("FILTER", entries)


@dataclass(frozen=True)
class LogSource:
    """What one product ships, and how."""

    name: str
    routes: tuple[Route, ...]
    filters: tuple[str, ...]
    """FILTER sections, in order; each route's ends with `allow(route)`."""
    claims: tuple[str, ...] = ()
    """`rewrite_tag` rules (`claim(...)`) that take container logs out of `kube.*` under this source's tags."""
    inputs: tuple[str, ...] = ()
    parsers: tuple[Parser, ...] = ()
    metrics: tuple[LogMetric, ...] = ()
    lua_scripts: Mapping[str, str] = field(default_factory=dict)


def claim(key: str, pattern: str, tag: str) -> str:
    """A rule of the `kube.*` rewrite_tag filter: records whose kubelet metadata `key` matches `pattern` leave
    `kube.*` as `tag` (`false`: the original is dropped). `pattern` holds no spaces (rewrite_tag splits on them)."""
    return f"{key} {pattern} {tag} false"


def container_of(namespace: str | None = None, container: str | None = None, label: tuple[str, str] | None = None,
                 ) -> tuple[str, str]:
    """The kubelet metadata key and anchored pattern of one claim: a namespace, a container name or a pod label."""
    if namespace is not None:
        return "$kubernetes['namespace_name']", f"^{namespace}$"
    if container is not None:
        return "$kubernetes['container_name']", f"^{container}$"
    if label is not None:
        return f"$kubernetes['labels']['{label[0]}']", f"^{label[1]}$"
    raise ValueError("a claim names a namespace, a container or a label")


def parse(match: str, key: str, parser: Parser, preserve: bool = False) -> str:
    return section("FILTER", [("Name", "parser"), ("Match", match), ("Key_Name", key), ("Parser", parser.name),
                              ("Reserve_Data", "On"), ("Preserve_Key", "On" if preserve else "Off")])


def lift(match: str, nested: str, prefix: str) -> str:
    return section("FILTER", [("Name", "nest"), ("Match", match), ("Operation", "lift"), ("Nested_under", nested),
                              ("Add_prefix", prefix)])


def modify(match: str, renames: Mapping[str, str], adds: Mapping[str, str]) -> str:
    entries = [("Name", "modify"), ("Match", match)]
    entries += [("Rename", f"{old} {new}") for old, new in renames.items()]
    entries += [("Add", f"{key} {value}") for key, value in adds.items()]
    return section("FILTER", entries)


def retag(match: str, rule: str, emitter: str) -> str:
    """A rewrite_tag filter with one rule (`$key pattern new_tag keep`)."""
    return section("FILTER", [("Name", "rewrite_tag"), ("Match", match), ("Rule", rule), ("Emitter_Name", emitter)])


def allow(route: Route) -> str:
    """The allowlist that ends a route: only the index's mapped fields leave (the es output adds the timestamp)."""
    kept = [name for name in route.fields if name != "timestamp"]
    return section("FILTER", [("Name", "record_modifier"), ("Match", route.tag),
                              *(("Allowlist_key", name) for name in kept)])


def check(sources: Sequence[LogSource]) -> None:
    """The rules of the module docstring; a broken source is a programming error, caught by every render."""
    owners: dict[str, str] = {}
    for source in sources:
        for route in source.routes:
            if route.tag in owners:
                raise ValueError(f"log route {route.tag!r} belongs to both {owners[route.tag]} and {source.name}")
            owners[route.tag] = source.name
            if allow(route) not in source.filters:
                raise ValueError(f"{source.name}: route {route.tag!r} has no allowlist; end its filters with "
                                 "shipping.allow(route)")
        for metric in source.metrics:
            if metric.section() not in source.filters:
                raise ValueError(f"{source.name}: metric {metric.name!r} is not among its filters")
    _named("parser", [(parser.name, parser.entries) for source in sources for parser in source.parsers])
    _named("Lua script", [item for source in sources for item in source.lua_scripts.items()])


def _named(kind: str, items: Iterable[tuple[str, object]]) -> dict[str, object]:
    found: dict[str, object] = {}
    for name, value in items:
        if found.setdefault(name, value) != value:
            raise ValueError(f"two log sources define the {kind} {name!r} differently; give one another name")
    return found


def render_inputs(sources: Sequence[LogSource]) -> str:
    return "\n".join([
        section("INPUT", [
            ("Name", "tail"), ("Tag", KUBE_TAG), ("Path", "/var/log/containers/*.log"),
            ("multiline.parser", "cri, docker"), ("DB", f"{STATE_DIR}/tail.db"), ("Mem_Buf_Limit", "32MB"),
            ("Skip_Long_Lines", "On"),
        ]),
        # Webhooks (MinIO's audit) post to https://<fluent-bit>:8443/<tag>; the URL path is the tag.
        section("INPUT", [
            ("Name", "http"), ("Listen", "0.0.0.0"), ("Port", str(AUDIT_PORT)), ("tls", "On"),
            ("tls.verify", "Off"), ("tls.crt_file", f"{TLS_DIR}/tls.crt"), ("tls.key_file", f"{TLS_DIR}/tls.key"),
        ]),
        *(text for source in sources for text in source.inputs),
    ])


def render_filters(sources: Sequence[LogSource]) -> str:
    claims = [("Rule", rule) for source in sources for rule in source.claims]
    shared = [section("FILTER", [("Name", "kubernetes"), ("Match", KUBE_TAG), ("Merge_Log", "Off"),
                                 ("Keep_Log", "On"), ("Labels", "On"), ("Annotations", "Off")])]
    if claims:
        # First matching rule wins, in the order of the sources.
        shared.append(section("FILTER", [("Name", "rewrite_tag"), ("Match", KUBE_TAG), *claims,
                                         ("Emitter_Name", "route_emitter")]))
    return "\n".join([*shared, *(text for source in sources for text in source.filters)])


def _match(tags: Sequence[str]) -> tuple[str, str]:
    return ("Match", tags[0]) if len(tags) == 1 else (
        "Match_Regex", "^(" + "|".join(tag.replace(".", r"\.") for tag in tags) + ")$")


def s3_output(tags: Sequence[str], lake: LakeLogs) -> str:
    """The `s3` output of every route's records into the lake's `logs` layer (options: fluent/fluent-bit
    plugins/out_s3/s3.c@v5.1.1 `config_map`):

    - `use_put_object On`: out_s3 then only ever calls PutObject (no CreateMultipartUpload, UploadPart,
      CompleteMultipartUpload or AbortMultipartUpload), so the writer's identity holds s3:PutObject alone;
    - `compression gzip` compresses each object's body whole (and sets `Content-Encoding: gzip`); `format
      json_lines` writes one JSON object per record, its time first under `json_date_key` in `json_date_format`
      iso8601 (`2026-12-01T09:30:00.123456Z`), then the record's keys (src/flb_pack.c@v5.1.1
      `flb_pack_msgpack_to_json_format`): the same allowlisted fields Elasticsearch receives;
    - `send_content_md5 On`: S3 requires Content-MD5 on a PutObject into a bucket with object lock;
    - `retry_exhausted_action quarantine` keeps a batch the store refused beside the buffer rather than deleting it.
    """
    entries = [
        ("Name", "s3"), _match(tags), ("bucket", lake.bucket), ("region", lake.region),
        ("s3_key_format", lake.key_format), ("s3_key_format_tag_delimiters", "."),
        ("format", "json_lines"), ("json_date_key", "timestamp"), ("json_date_format", "iso8601"),
        ("compression", "gzip"), ("use_put_object", "On"), ("send_content_md5", "On"),
        ("total_file_size", LAKE_FILE_SIZE), ("upload_timeout", LAKE_UPLOAD_TIMEOUT),
        ("store_dir", LAKE_STORE_DIR), ("retry_exhausted_action", "quarantine"), ("Retry_Limit", "False"),
    ]
    if lake.endpoint:
        entries += [("endpoint", lake.endpoint), ("tls.verify", "On")]
        if lake.ca_file:
            entries.append(("tls.ca_file", lake.ca_file))
    return section("OUTPUT", entries)


def render_outputs(sources: Sequence[LogSource], lake: LakeLogs | None = None) -> str:
    by_index: dict[str, list[str]] = {}
    for route in (route for source in sources for route in source.routes):
        by_index.setdefault(route.index_prefix, []).append(route.tag)
    sections = []
    for prefix, tags in by_index.items():
        match = _match(tags)
        sections.append(section("OUTPUT", [
            ("Name", "es"), match, ("Host", ELASTICSEARCH_HOST), ("Port", str(ELASTICSEARCH_PORT)),
            ("HTTP_User", "${ES_USER}"), ("HTTP_Passwd", "${ES_PASSWORD}"), ("Logstash_Format", "On"),
            ("Logstash_Prefix", prefix), ("Logstash_DateFormat", "%Y.%m.%d"), ("Time_Key", "timestamp"),
            ("Suppress_Type_Name", "On"), ("Retry_Limit", "False"), ("tls", "On"), ("tls.verify", "On"),
            ("tls.ca_file", f"{TLS_DIR}/ca.crt"),
        ]))
    if lake is not None:
        sections.append(s3_output([route.tag for source in sources for route in source.routes], lake))
    # The log_to_metrics series, for Prometheus (plain HTTP inside the cluster, like the built-in server on 2020).
    sections.append(section("OUTPUT", [
        ("Name", "prometheus_exporter"), ("Match", f"{LOG_METRICS_TAG_PREFIX}.*"), ("Host", "0.0.0.0"),
        ("Port", str(LOG_METRICS_PORT)),
    ]))
    return "\n".join(sections)


def render_parsers(sources: Sequence[LogSource]) -> str:
    parsers = _named("parser", [(parser.name, parser) for source in sources for parser in source.parsers])
    return "\n".join(parser.section() for parser in parsers.values())  # type: ignore[attr-defined]


def render(sources: Sequence[LogSource], lake: LakeLogs | None = None) -> dict[str, str]:
    """The fluent-bit chart's `config` sections for these sources, in their order; with `lake`, every route's
    records also go to the lake's `logs` layer."""
    check(sources)
    for route in (route for source in sources for route in source.routes):
        if "." not in route.tag:
            raise ValueError(f"log route {route.tag!r}: tags are <service>.<kind>; the lake's key takes the service "
                             "from the first part")
    return {"inputs": render_inputs(sources), "filters": render_filters(sources),
            "outputs": render_outputs(sources, lake), "customParsers": render_parsers(sources)}


def lua_scripts(sources: Sequence[LogSource]) -> dict[str, str]:
    """The chart's `luaScripts`: file name -> script, mounted at LUA_DIR."""
    return {name: str(script) for name, script in
            _named("Lua script", [item for source in sources for item in source.lua_scripts.items()]).items()}


def log_metrics(sources: Sequence[LogSource]) -> tuple[LogMetric, ...]:
    """Every series the shipper derives from logs."""
    return tuple(metric for source in sources for metric in source.metrics)
