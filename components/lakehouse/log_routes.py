"""What the lakehouse ships to the logs layer: dbt's runs and Dremio's queries.

- dbt (the batch's container `dbt`, JSON log format) -> the job-log indices with `service: dbt` (job_id is the
  invocation id); each node result (`LogModelResult`) is also copied to the `dbt-runs` indices, and each source
  freshness result (`Q018`) feeds the stale-source series.
- Dremio writes queries.json (and audit.json on Enterprise) to its `dremio-log` emptyDir, which the kubelet keeps
  under its pods directory; the shipper tails both (every node) into the audit trail. Each query's duration,
  `finish - start` in epoch milliseconds, is computed by a Lua filter (LuaJIT in Fluent Bit: record accessors and
  log_to_metrics cannot subtract) and observed into the histogram QUERY_SECONDS, which the slow-query alert reads.
"""

from __future__ import annotations

from components.logs import shipping
from components.logs.spec import AIRBYTE_LOGS_FIELDS, DBT_RUNS, DBT_RUNS_FIELDS, JOB_LOGS
from infra.model.sections import QUERY_SECONDS_BUCKETS

# The batch's container that runs `dbt build` (components/lakehouse/batch.py).
DBT_CONTAINER = "dbt"
DBT_LOG_TAG = "dbt.log"
DBT_RUN_TAG = "dbt.run"
DBT_LOG = shipping.Route(DBT_LOG_TAG, JOB_LOGS, tuple(AIRBYTE_LOGS_FIELDS))
DBT_RUN = shipping.Route(DBT_RUN_TAG, DBT_RUNS, tuple(DBT_RUNS_FIELDS))
# `dbt source freshness` reports each source table as event Q018 (LogFreshnessResult in dbt-core 1.11's
# module dbt.events.types: `data.status` pass, warn, error or runtime error; `data.source_name`, `data.table_name`).
# A copy of each is re-tagged, stamped with its time by a Lua filter (log_to_metrics takes a value from a field, and
# the record's time is not one) and observed into two gauges, the time of each table's latest stale and latest
# fresh result, which the DbtSourceStale alert compares; the copy is then dropped.
FRESHNESS_EVENT = "Q018"
FRESHNESS_TAG = "dbt.freshness"
FRESHNESS_LUA = "dbt_freshness.lua"
FRESHNESS_LUA_CALL = "dbt_freshness_checked_at"
FRESHNESS_LUA_SCRIPT = """-- dbt's freshness results: the record's time, in epoch seconds, as a field.
function dbt_freshness_checked_at(tag, timestamp, record)
  record["checked_at"] = timestamp
  return 2, timestamp, record
end
"""
STALE_AT = shipping.LogMetric(
    name="dbt_source_stale_timestamp_seconds", mode="gauge", match=FRESHNESS_TAG,
    description="When dbt source freshness last found the source table stale (warn or error; epoch seconds).",
    value_field="checked_at", labels=("source_name", "table_name"), rules=(("Regex", "status", r"^(warn|error)$"),))
FRESH_AT = shipping.LogMetric(
    name="dbt_source_fresh_timestamp_seconds", mode="gauge", match=FRESHNESS_TAG,
    description="When dbt source freshness last found the source table fresh (epoch seconds).",
    value_field="checked_at", labels=("source_name", "table_name"), rules=(("Regex", "status", r"^pass$"),),
    discard_logs=True)

DBT_LOG_SOURCE = shipping.LogSource(
    name="dbt",
    claims=(shipping.claim(*shipping.container_of(container=DBT_CONTAINER), DBT_LOG_TAG),),
    parsers=(shipping.JSON_LINE,),
    routes=(DBT_LOG, DBT_RUN),
    metrics=(STALE_AT, FRESH_AT),
    lua_scripts={FRESHNESS_LUA: FRESHNESS_LUA_SCRIPT},
    filters=(
        # JSON events; node results are copied to dbt.run, freshness results to dbt.freshness, before the log
        # fields are renamed.
        shipping.parse(DBT_LOG_TAG, "log", shipping.JSON_LINE),
        shipping.lift(DBT_LOG_TAG, "info", "info_"),
        shipping.retag(DBT_LOG_TAG, f"$info_name ^LogModelResult$ {DBT_RUN_TAG} true", "dbt_emitter"),
        shipping.retag(DBT_LOG_TAG, f"$info_code ^{FRESHNESS_EVENT}$ {FRESHNESS_TAG} true", "dbt_freshness_emitter"),
        shipping.modify(DBT_LOG_TAG, {"info_level": "level", "info_msg": "message",
                                      "info_invocation_id": "job_id"}, {"service": "dbt"}),
        shipping.allow(DBT_LOG),
        shipping.lift(DBT_RUN_TAG, "data", "data_"),
        shipping.lift(DBT_RUN_TAG, "data_node_info", "node_"),
        shipping.modify(DBT_RUN_TAG, {"info_invocation_id": "invocation_id", "node_unique_id": "node_id",
                                      "node_node_name": "node_name", "node_node_status": "status",
                                      "data_status": "adapter_response", "data_execution_time": "execution_time",
                                      "info_msg": "message"}, {}),
        shipping.allow(DBT_RUN),
        shipping.lift(FRESHNESS_TAG, "data", "data_"),
        shipping.modify(FRESHNESS_TAG, {"data_status": "status", "data_source_name": "source_name",
                                        "data_table_name": "table_name"}, {}),
        shipping.section("FILTER", [("Name", "lua"), ("Match", FRESHNESS_TAG),
                                    ("script", f"{shipping.LUA_DIR}/{FRESHNESS_LUA}"), ("call", FRESHNESS_LUA_CALL)]),
        STALE_AT.section(),
        FRESH_AT.section(),
    ),
)

QUERY_TAG = "dremio.query"
QUERY_ROUTE = shipping.audit_route(QUERY_TAG)
LOG_GLOB = f"{shipping.KUBELET_PODS}/*/volumes/kubernetes.io~empty-dir/dremio-log"
# Seconds; the lakehouse's slow-query threshold must be one of them (its alert reads that bucket), which the stack
# config's model checks against the same tuple.
QUERY_SECONDS = shipping.LogMetric(
    name="dremio_query_duration_seconds", mode="histogram", match=QUERY_TAG,
    description="Duration of Dremio queries (finish - start in queries.json), seconds.",
    value_field="duration_seconds", buckets=QUERY_SECONDS_BUCKETS,
    # Only records the Lua filter gave a duration (audit.json's have no start and finish).
    rules=(("Regex", "duration_seconds", r"^[0-9]+(\.[0-9]+)?$"),),
)
# The value is a string so that the histogram's Regex rule, which only matches strings, can select it.
QUERY_LUA = "dremio_query.lua"
QUERY_LUA_CALL = "dremio_query_seconds"
QUERY_LUA_SCRIPT = """-- Dremio's queries.json: `start` and `finish` are epoch milliseconds.
function dremio_query_seconds(tag, timestamp, record)
  local start, finish = tonumber(record["start"]), tonumber(record["finish"])
  if start == nil or finish == nil or finish < start then
    return 0, timestamp, record
  end
  record["duration_seconds"] = string.format("%.3f", (finish - start) / 1000)
  return 2, timestamp, record
end
"""

DREMIO_LOG_SOURCE = shipping.LogSource(
    name="dremio",
    inputs=(
        # Dremio's query log (every node) and, on Enterprise, its audit log: one JSON object per line.
        shipping.section("INPUT", [
            ("Name", "tail"), ("Tag", QUERY_TAG), ("Path", f"{LOG_GLOB}/queries.json,{LOG_GLOB}/audit.json"),
            ("DB", f"{shipping.STATE_DIR}/dremio.db"), ("Mem_Buf_Limit", "16MB"), ("Skip_Long_Lines", "On"),
        ]),
    ),
    parsers=(shipping.JSON_LINE,),
    routes=(QUERY_ROUTE,),
    metrics=(QUERY_SECONDS,),
    lua_scripts={QUERY_LUA: QUERY_LUA_SCRIPT},
    filters=(
        # One record per query (queries.json) or audited action (audit.json); a query's duration feeds the
        # histogram, then the allowlist drops it.
        shipping.parse(QUERY_TAG, "log", shipping.JSON_LINE),
        shipping.section("FILTER", [("Name", "lua"), ("Match", QUERY_TAG),
                                    ("script", f"{shipping.LUA_DIR}/{QUERY_LUA}"), ("call", QUERY_LUA_CALL)]),
        QUERY_SECONDS.section(),
        shipping.modify(QUERY_TAG, {"username": "actor", "queryId": "object", "queryText": "statement",
                                    "outcome": "action", "queryType": "class", "context": "database"},
                        {"source": "dremio"}),
        shipping.allow(QUERY_ROUTE),
    ),
)
