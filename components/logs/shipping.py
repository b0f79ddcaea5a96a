"""Fluent Bit configuration for the runtime's DaemonSet: which logs reach which Elasticsearch index, parsed how.

Pure text, rendered once per stack; the runtime's `fluent-bit` release takes `render()`'s sections as its chart's
`config.inputs`, `config.filters`, `config.outputs` and `config.customParsers` (the chart's service section
already loads `custom_parsers.conf`).

Routes (the tag decides; `rewrite_tag` re-tags container logs by where they come from):
- Airbyte (every container in `dp-ingestion`) -> `airbyte-logs-YYYY.MM.DD`: time, level and message from the
  line; `records_synced` and `bytes_synced` from sync summaries; `job_id` and `connection_id` from the labels
  Airbyte puts on job pods;
- dbt (container `dbt`, JSON log format) -> `airbyte-logs-*` with `service: dbt` (job_id is the invocation id),
  and each node result (`LogModelResult`) also -> `dbt-runs-*`;
- PostgreSQL (CloudNativePG's `postgres` container of the `metadata` cluster, JSON lines; only the `pgaudit`
  logger) -> `platform-audit-*`;
- MinIO's audit webhook (the http input, path `/minio.audit`) -> `platform-audit-*`.
- Superset (every container in `dp-presentation`; only lines its event logger prints, `{"superset_event": ...}`)
  -> `platform-audit-*`.
Every route ends with an allowlist of its index's mapped fields, so nothing unmapped is sent. Other container logs
are not shipped (they stay with the kubelet). Later layers (Dremio, Superset) add their audit routes here.

Metrics from logs (`log_to_metrics`, exposed by a `prometheus_exporter` output on LOG_METRICS_PORT, `/metrics`):
- Dremio: each queries.json record's duration, `finish - start` (epoch milliseconds) computed by a Lua filter
  (LUA_SCRIPTS, mounted by the chart from its `luaScripts` ConfigMap), observed into the histogram
  DREMIO_QUERY_SECONDS;
- Superset: each gunicorn access-log line of the web pods (re-tagged `superset.access`, never shipped to an
  index) counted into SUPERSET_RESPONSES by the status code's first digit; kubelet probes of `/health` are not
  counted.
Fluent Bit names a series `<namespace>_<subsystem>_<name>`; the namespace defaults to `log_metric` and the
subsystem to the metric's mode, so `LogMetric.series` is what Prometheus stores and what the alerts read.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.logs.spec import AIRBYTE_LOGS_FIELDS, AUDIT_FIELDS, DBT_RUNS_FIELDS
from infra.model.naming import namespace_name, service_host
from infra.model.sections import QUERY_SECONDS_BUCKETS

ELASTICSEARCH_HOST = service_host("logs-es-http", "logs")
ELASTICSEARCH_PORT = 9200
AUDIT_PORT = 8443
MINIO_AUDIT_TAG = "minio.audit"
DREMIO_QUERY_TAG = "dremio.query"
# Superset's event logger (components/presentation/spec.py) prints one JSON line per event, starting with this key.
SUPERSET_EVENT_TAG = "superset.event"
SUPERSET_EVENT_KEY = "superset_event"
# Dremio writes queries.json (and audit.json on Enterprise) to its `dremio-log` emptyDir; the kubelet keeps it here.
KUBELET_PODS = "/var/lib/kubelet/pods"
DREMIO_LOG_GLOB = f"{KUBELET_PODS}/*/volumes/kubernetes.io~empty-dir/dremio-log"
TLS_DIR = "/fluent-bit/tls"
STATE_DIR = "/var/fluent-bit/state"
CNPG_CLUSTER = "metadata"
# Gunicorn's access-log lines in Superset's namespace (stdout of its web pods) leave the audit route for this tag.
SUPERSET_ACCESS_TAG = "superset.access"
# Where the chart mounts its `luaScripts` ConfigMap in the shipper's container.
LUA_DIR = "/fluent-bit/scripts"
# The `prometheus_exporter` output's port; the built-in HTTP server (2020) serves only Fluent Bit's own metrics.
LOG_METRICS_PORT = 2021
LOG_METRICS_PATH = "/metrics"
LOG_METRICS_TAG_PREFIX = "logmetrics"

# Onigmo regular expressions (Fluent Bit's engine); named groups become record keys.
PARSERS: dict[str, dict[str, str]] = {
    "airbyte_line": {
        "Format": "regex",
        "Regex": r"^(?<time>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:[.,]\d+)?\s+(?<level>[A-Z]+)\s+(?<message>.*)$",
        "Time_Key": "time",
        "Time_Format": "%Y-%m-%d %H:%M:%S",
    },
    "airbyte_sync_counts": {
        "Format": "regex",
        "Regex": r"\"?(?:recordsSynced|records_synced)\"?\s*[:=]\s*(?<records_synced>\d+)"
        r".*?\"?(?:bytesSynced|bytes_synced)\"?\s*[:=]\s*(?<bytes_synced>\d+)",
        "Types": "records_synced:integer bytes_synced:integer",
    },
    "json_line": {"Format": "json"},
    "postgres_log_time": {
        "Format": "regex",
        "Regex": r"^(?<time>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d+) UTC$",
        "Time_Key": "time",
        "Time_Format": "%Y-%m-%d %H:%M:%S.%L",
    },
    "iso8601_time": {
        "Format": "regex",
        "Regex": r"^(?<time>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))$",
        "Time_Key": "time",
        "Time_Format": "%Y-%m-%dT%H:%M:%S.%L%z",
    },
    # Gunicorn's default access-log format (`%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"`), which
    # Superset's run-server.sh writes to stdout: the path without its query string, and the status code's class.
    "gunicorn_access": {
        "Format": "regex",
        "Regex": r'^\S+ \S+ .*?\[[^\]]+\] "(?<method>[A-Z]+) (?<path>[^ "?]*)[^"]*" (?<status_class>[1-5])\d\d\b',
    },
}
# What routes a line of Superset's namespace to SUPERSET_ACCESS_TAG: host, ident, user, [time], "METHOD (no spaces:
# rewrite_tag splits its rule on them).
GUNICORN_ACCESS_LINE = r'^\S+\s\S+\s\S+\s\[[^\]]+\]\s"[A-Z]+\s'


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
        return _section("FILTER", entries)


# Seconds; the lakehouse's slow-query threshold must be one of them (its alert reads that bucket), which the stack
# config's model checks against the same tuple.
DREMIO_QUERY_SECONDS = LogMetric(
    name="dremio_query_duration_seconds", mode="histogram", match=DREMIO_QUERY_TAG,
    description="Duration of Dremio queries (finish - start in queries.json), seconds.",
    value_field="duration_seconds", buckets=QUERY_SECONDS_BUCKETS,
    # Only records the Lua filter gave a duration (audit.json's have no start and finish).
    rules=(("Regex", "duration_seconds", r"^[0-9]+(\.[0-9]+)?$"),),
)
SUPERSET_RESPONSES = LogMetric(
    name="superset_http_responses_total", mode="counter", match=SUPERSET_ACCESS_TAG,
    description="Responses of Superset's web server by status class (first digit), from gunicorn's access log.",
    labels=("status_class",),
    # Exclude before Regex: a matching Regex rule counts the record at once.
    rules=(("Exclude", "path", r"^/health$"), ("Regex", "status_class", r"^[1-5]$")),
    discard_logs=True,
)
LOG_METRICS = (DREMIO_QUERY_SECONDS, SUPERSET_RESPONSES)

# The Dremio duration: record accessors and log_to_metrics cannot subtract, so a Lua filter does (LuaJIT in
# Fluent Bit). The value is a string so that the histogram's Regex rule, which only matches strings, can select it.
DREMIO_QUERY_LUA = "dremio_query.lua"
DREMIO_QUERY_LUA_CALL = "dremio_query_seconds"
LUA_SCRIPTS: dict[str, str] = {
    DREMIO_QUERY_LUA: """-- Dremio's queries.json: `start` and `finish` are epoch milliseconds.
function dremio_query_seconds(tag, timestamp, record)
  local start, finish = tonumber(record["start"]), tonumber(record["finish"])
  if start == nil or finish == nil or finish < start then
    return 0, timestamp, record
  end
  record["duration_seconds"] = string.format("%.3f", (finish - start) / 1000)
  return 2, timestamp, record
end
""",
}


@dataclass(frozen=True)
class Route:
    tag: str
    index_prefix: str
    fields: tuple[str, ...]


ROUTES = (
    Route("airbyte.job", "airbyte-logs", tuple(AIRBYTE_LOGS_FIELDS)),
    Route("dbt.log", "airbyte-logs", tuple(AIRBYTE_LOGS_FIELDS)),
    Route("dbt.run", "dbt-runs", tuple(DBT_RUNS_FIELDS)),
    Route("postgres.audit", "platform-audit", tuple(AUDIT_FIELDS)),
    Route(MINIO_AUDIT_TAG, "platform-audit", tuple(AUDIT_FIELDS)),
    Route(DREMIO_QUERY_TAG, "platform-audit", tuple(AUDIT_FIELDS)),
    Route(SUPERSET_EVENT_TAG, "platform-audit", tuple(AUDIT_FIELDS)),
)


def _section(kind: str, entries: list[tuple[str, str]]) -> str:
    width = max(len(key) for key, _ in entries) + 2
    return f"[{kind}]\n" + "".join(f"    {key.ljust(width)}{value}\n" for key, value in entries)


def render_parsers() -> str:
    return "\n".join(_section("PARSER", [("Name", name), *parser.items()]) for name, parser in PARSERS.items())


def render_inputs() -> str:
    return "\n".join([
        _section("INPUT", [
            ("Name", "tail"), ("Tag", "kube.*"), ("Path", "/var/log/containers/*.log"),
            ("multiline.parser", "cri, docker"), ("DB", f"{STATE_DIR}/tail.db"), ("Mem_Buf_Limit", "32MB"),
            ("Skip_Long_Lines", "On"),
        ]),
        # MinIO posts audit events to https://<fluent-bit>:8443/minio.audit; the URL path is the tag.
        _section("INPUT", [
            ("Name", "http"), ("Listen", "0.0.0.0"), ("Port", str(AUDIT_PORT)), ("tls", "On"),
            ("tls.verify", "Off"), ("tls.crt_file", f"{TLS_DIR}/tls.crt"), ("tls.key_file", f"{TLS_DIR}/tls.key"),
        ]),
        # Dremio's query log (every node) and, on Enterprise, its audit log: one JSON object per line.
        _section("INPUT", [
            ("Name", "tail"), ("Tag", DREMIO_QUERY_TAG),
            ("Path", f"{DREMIO_LOG_GLOB}/queries.json,{DREMIO_LOG_GLOB}/audit.json"),
            ("DB", f"{STATE_DIR}/dremio.db"), ("Mem_Buf_Limit", "16MB"), ("Skip_Long_Lines", "On"),
        ]),
    ])


def _parse(match: str, key: str, parser: str, preserve: bool = False) -> str:
    return _section("FILTER", [("Name", "parser"), ("Match", match), ("Key_Name", key), ("Parser", parser),
                               ("Reserve_Data", "On"), ("Preserve_Key", "On" if preserve else "Off")])


def _lift(match: str, nested: str, prefix: str) -> str:
    return _section("FILTER", [("Name", "nest"), ("Match", match), ("Operation", "lift"), ("Nested_under", nested),
                               ("Add_prefix", prefix)])


def _modify(match: str, renames: dict[str, str], adds: dict[str, str]) -> str:
    entries = [("Name", "modify"), ("Match", match)]
    entries += [("Rename", f"{old} {new}") for old, new in renames.items()]
    entries += [("Add", f"{key} {value}") for key, value in adds.items()]
    return _section("FILTER", entries)


def _allow(route: Route) -> str:
    kept = [field for field in route.fields if field != "timestamp"]  # the es output adds the timestamp
    return _section("FILTER", [("Name", "record_modifier"), ("Match", route.tag),
                               *(("Allowlist_key", field) for field in kept)])


def render_filters() -> str:
    routes = {route.tag: route for route in ROUTES}
    ingestion, lakehouse_dbt = namespace_name("ingestion"), "dbt"
    return "\n".join([
        _section("FILTER", [("Name", "kubernetes"), ("Match", "kube.*"), ("Merge_Log", "Off"),
                            ("Keep_Log", "On"), ("Labels", "On"), ("Annotations", "Off")]),
        # First matching rule wins; `false`: the kube.* original is dropped, only the re-tagged copy goes on.
        _section("FILTER", [
            ("Name", "rewrite_tag"), ("Match", "kube.*"),
            ("Rule", f"$kubernetes['namespace_name'] ^{ingestion}$ airbyte.job false"),
            ("Rule", f"$kubernetes['container_name'] ^{lakehouse_dbt}$ dbt.log false"),
            ("Rule", f"$kubernetes['labels']['cnpg.io/cluster'] ^{CNPG_CLUSTER}$ postgres.log false"),
            ("Rule", f"$kubernetes['namespace_name'] ^{namespace_name('presentation')}$ {SUPERSET_EVENT_TAG} false"),
            ("Emitter_Name", "route_emitter"),
        ]),
        # Airbyte: the line, then the counts inside sync summaries, then the job pod's labels.
        _parse("airbyte.job", "log", "airbyte_line"),
        _parse("airbyte.job", "message", "airbyte_sync_counts", preserve=True),
        _lift("airbyte.job", "kubernetes", "k8s_"),
        _lift("airbyte.job", "k8s_labels", "label_"),
        _modify("airbyte.job", {"label_job_id": "job_id", "label_connection_id": "connection_id"},
                {"service": "airbyte"}),
        _allow(routes["airbyte.job"]),
        # dbt: JSON events; node results are copied to dbt.run before the log fields are renamed.
        _parse("dbt.log", "log", "json_line"),
        _lift("dbt.log", "info", "info_"),
        _section("FILTER", [("Name", "rewrite_tag"), ("Match", "dbt.log"),
                            ("Rule", "$info_name ^LogModelResult$ dbt.run true"), ("Emitter_Name", "dbt_emitter")]),
        _modify("dbt.log", {"info_level": "level", "info_msg": "message", "info_invocation_id": "job_id"},
                {"service": "dbt"}),
        _allow(routes["dbt.log"]),
        _lift("dbt.run", "data", "data_"),
        _lift("dbt.run", "data_node_info", "node_"),
        _modify("dbt.run", {"info_invocation_id": "invocation_id", "node_unique_id": "node_id",
                            "node_node_name": "node_name", "node_node_status": "status",
                            "data_status": "adapter_response", "data_execution_time": "execution_time",
                            "info_msg": "message"}, {}),
        _allow(routes["dbt.run"]),
        # PostgreSQL: CloudNativePG's JSON lines; only pgaudit records, already split into fields by the operator.
        _parse("postgres.log", "log", "json_line"),
        _section("FILTER", [("Name", "rewrite_tag"), ("Match", "postgres.log"),
                            ("Rule", "$logger ^pgaudit$ postgres.audit false"), ("Emitter_Name", "pg_emitter")]),
        _lift("postgres.audit", "record", "pg_"),
        _lift("postgres.audit", "pg_audit", "audit_"),
        _parse("postgres.audit", "pg_log_time", "postgres_log_time"),
        _modify("postgres.audit", {"pg_user_name": "actor", "pg_database_name": "database",
                                   "audit_class": "class", "audit_command": "action",
                                   "audit_object_name": "object", "audit_statement": "statement",
                                   "pg_connection_from": "remote_address"}, {"source": "postgresql"}),
        _allow(routes["postgres.audit"]),
        # MinIO: one audit event per S3 call.
        _parse(MINIO_AUDIT_TAG, "time", "iso8601_time"),
        _lift(MINIO_AUDIT_TAG, "api", "api_"),
        _modify(MINIO_AUDIT_TAG, {"accessKey": "actor", "api_name": "action", "api_bucket": "bucket",
                                  "api_object": "object", "api_statusCode": "status_code",
                                  "remotehost": "remote_address"}, {"source": "minio", "class": "S3"}),
        _allow(routes[MINIO_AUDIT_TAG]),
        # Dremio: one record per query (queries.json) or audited action (audit.json); a query's duration feeds the
        # histogram, then the allowlist drops it.
        _parse(DREMIO_QUERY_TAG, "log", "json_line"),
        _section("FILTER", [("Name", "lua"), ("Match", DREMIO_QUERY_TAG),
                            ("script", f"{LUA_DIR}/{DREMIO_QUERY_LUA}"), ("call", DREMIO_QUERY_LUA_CALL)]),
        DREMIO_QUERY_SECONDS.section(),
        _modify(DREMIO_QUERY_TAG, {"username": "actor", "queryId": "object", "queryText": "statement",
                                   "outcome": "action", "queryType": "class", "context": "database"},
                {"source": "dremio"}),
        _allow(routes[DREMIO_QUERY_TAG]),
        # Superset: gunicorn's access lines are counted (and not shipped); then only its event lines (the rest of
        # the namespace's output is not shipped), already in the audit index's field names.
        _section("FILTER", [("Name", "rewrite_tag"), ("Match", SUPERSET_EVENT_TAG),
                            ("Rule", f"$log {GUNICORN_ACCESS_LINE} {SUPERSET_ACCESS_TAG} false"),
                            ("Emitter_Name", "superset_access_emitter")]),
        _parse(SUPERSET_ACCESS_TAG, "log", "gunicorn_access"),
        SUPERSET_RESPONSES.section(),
        _section("FILTER", [("Name", "grep"), ("Match", SUPERSET_EVENT_TAG),
                            ("Regex", f'log ^\\{{"{SUPERSET_EVENT_KEY}"')]),
        _parse(SUPERSET_EVENT_TAG, "log", "json_line"),
        _modify(SUPERSET_EVENT_TAG, {SUPERSET_EVENT_KEY: "action"}, {"source": "superset", "class": "event"}),
        _allow(routes[SUPERSET_EVENT_TAG]),
    ])


def render_outputs() -> str:
    by_index: dict[str, list[str]] = {}
    for route in ROUTES:
        by_index.setdefault(route.index_prefix, []).append(route.tag)
    sections = []
    for prefix, tags in by_index.items():
        match = ("Match", tags[0]) if len(tags) == 1 else (
            "Match_Regex", "^(" + "|".join(tag.replace(".", r"\.") for tag in tags) + ")$")
        sections.append(_section("OUTPUT", [
            ("Name", "es"), match, ("Host", ELASTICSEARCH_HOST), ("Port", str(ELASTICSEARCH_PORT)),
            ("HTTP_User", "${ES_USER}"), ("HTTP_Passwd", "${ES_PASSWORD}"), ("Logstash_Format", "On"),
            ("Logstash_Prefix", prefix), ("Logstash_DateFormat", "%Y.%m.%d"), ("Time_Key", "timestamp"),
            ("Suppress_Type_Name", "On"), ("Retry_Limit", "False"), ("tls", "On"), ("tls.verify", "On"),
            ("tls.ca_file", f"{TLS_DIR}/ca.crt"),
        ]))
    # The log_to_metrics series, for Prometheus (plain HTTP inside the cluster, like the built-in server on 2020).
    sections.append(_section("OUTPUT", [
        ("Name", "prometheus_exporter"), ("Match", f"{LOG_METRICS_TAG_PREFIX}.*"), ("Host", "0.0.0.0"),
        ("Port", str(LOG_METRICS_PORT)),
    ]))
    return "\n".join(sections)


def render() -> dict[str, str]:
    """The fluent-bit chart's `config` sections."""
    return {"inputs": render_inputs(), "filters": render_filters(), "outputs": render_outputs(),
            "customParsers": render_parsers()}
