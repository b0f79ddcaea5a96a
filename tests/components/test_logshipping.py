"""Sample Airbyte, dbt, pgaudit and MinIO audit lines run through the rendered Fluent Bit config and its exact regex
parsers land in the right daily index as documents that fit that index template's mapping."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
import regex

from components.logs import shipping as logshipping
from components.logs import spec as logs_spec
from components.platform import LOG_SOURCES
from infra.model.naming import MINIO_AUDIT_TAG
from tests.support.fluentbit import FluentBit, platform_shipper

CRI_TIME = datetime(2026, 11, 20, 10, 15, 2, 345000, tzinfo=UTC)
CONNECTION = "8c1f3f0e-5a4b-4c2d-9e6f-0a1b2c3d4e5f"
AIRBYTE_POD = {"namespace_name": "dp-ingestion", "pod_name": "replication-job-42-attempt-0",
               "container_name": "orchestrator", "labels": {"job_id": "42", "attempt_id": "0",
                                                            "connection_id": CONNECTION}}
DBT_POD = {"namespace_name": "dp-lakehouse", "pod_name": "batch-29512-x7k2p", "container_name": "dbt",
           "labels": {"app.kubernetes.io/name": "batch"}}
PG_POD = {"namespace_name": "dp-metadata", "pod_name": "metadata-1", "container_name": "postgres",
          "labels": {"cnpg.io/cluster": "metadata", "cnpg.io/instanceName": "metadata-1"}}
MAPPINGS = {family.name: family.fields for family in logs_spec.families(7, 90)}


@pytest.fixture(scope="module")
def fluent_bit() -> FluentBit:
    return platform_shipper()


def check_against_mapping(document: dict, fields: dict[str, dict[str, str]]) -> None:
    """What Elasticsearch would index: every field mapped, every value of the mapped type."""
    unmapped = sorted(set(document) - set(fields))
    assert not unmapped, f"fields without a mapping: {unmapped}"
    for name, value in document.items():
        kind = fields[name]["type"]
        if kind == "date":
            datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")
        elif kind in ("keyword", "text"):
            assert isinstance(value, str), (name, value)
        elif kind == "integer":
            assert isinstance(value, int) and -(2**31) <= value < 2**31, (name, value)
        elif kind == "long":
            assert isinstance(value, int) and -(2**63) <= value < 2**63, (name, value)
        elif kind == "double":
            assert isinstance(value, (int, float)) and not isinstance(value, bool), (name, value)
        else:
            raise AssertionError(f"no check for mapping type {kind}")


def ship(fluent_bit: FluentBit, tag: str, record: dict) -> list[tuple[str, dict]]:
    documents = fluent_bit.run(tag, CRI_TIME, record)
    for document in documents:
        family = document.index.rsplit("-", 1)[0]
        check_against_mapping(document.body, MAPPINGS[family])
    return [(document.index, document.body) for document in documents]


def test_parsers_use_onigmo_named_groups_that_only_the_regex_module_reads(fluent_bit):
    parsers = {parser.name: parser.entries for source in LOG_SOURCES for parser in source.parsers}
    for name, parser in parsers.items():
        if parser["Format"] == "regex":
            assert "(?<" in parser["Regex"], name
            assert fluent_bit.regex_of(name).pattern == parser["Regex"]
            with pytest.raises(re.error):
                re.compile(parser["Regex"])
            regex.compile(parser["Regex"])


def test_an_airbyte_sync_summary_gives_its_counts_and_job(fluent_bit):
    line = ('2026-11-20 10:15:02 INFO replication-orchestrator > sync summary: {"status":"completed",'
            '"recordsSynced":1500,"bytesSynced":3000000000,"startTime":1763633700000}')
    assert ship(fluent_bit, "kube.var.log.containers.x.log", {"log": line, "kubernetes": AIRBYTE_POD}) == [
        ("airbyte-logs-2026.11.20", {
            "timestamp": "2026-11-20T10:15:02.000Z", "level": "INFO", "service": "airbyte",
            "message": line.split("INFO ", 1)[1], "job_id": "42", "connection_id": CONNECTION,
            "records_synced": 1500, "bytes_synced": 3000000000,
        })
    ]


def test_an_ordinary_airbyte_line_has_no_counts(fluent_bit):
    line = "2026-11-19 23:59:59,870 WARN i.a.w.g.DefaultReplicationWorker: Source has no more messages"
    [(index, document)] = ship(fluent_bit, "kube.x", {"log": line, "kubernetes": AIRBYTE_POD})
    assert index == "airbyte-logs-2026.11.19"
    assert document == {"timestamp": "2026-11-19T23:59:59.000Z", "level": "WARN", "service": "airbyte",
                        "message": "i.a.w.g.DefaultReplicationWorker: Source has no more messages",
                        "job_id": "42", "connection_id": CONNECTION}


DBT_RESULT = {
    "info": {"name": "LogModelResult", "code": "Q012", "level": "info", "invocation_id": "5d1c-inv",
             "msg": "1 of 5 OK created sql table model gold.fct_customer_lifetime_value .. [OK in 0.52s]",
             "ts": "2026-11-20T10:15:02.345678Z", "pid": 7, "thread": "Thread-1", "extra": {}, "category": ""},
    "data": {"description": "sql table model gold.fct_customer_lifetime_value", "status": "OK", "index": 1,
             "total": 5, "execution_time": 0.52,
             "node_info": {"unique_id": "model.dataplatform.fct_customer_lifetime_value",
                           "node_name": "fct_customer_lifetime_value", "node_status": "success",
                           "resource_type": "model", "materialized": "table"}},
}


def test_a_dbt_node_result_goes_to_the_job_log_and_to_the_run_index(fluent_bit):
    documents = ship(fluent_bit, "kube.y", {"log": json.dumps(DBT_RESULT), "kubernetes": DBT_POD})
    assert documents == [
        ("dbt-runs-2026.11.20", {
            "timestamp": "2026-11-20T10:15:02.345Z", "invocation_id": "5d1c-inv",
            "node_id": "model.dataplatform.fct_customer_lifetime_value", "node_name": "fct_customer_lifetime_value",
            "status": "success", "adapter_response": "OK", "execution_time": 0.52,
            "message": DBT_RESULT["info"]["msg"],
        }),
        ("airbyte-logs-2026.11.20", {
            "timestamp": "2026-11-20T10:15:02.345Z", "level": "info", "service": "dbt",
            "message": DBT_RESULT["info"]["msg"], "job_id": "5d1c-inv",
        }),
    ]


def test_other_dbt_events_only_reach_the_job_log(fluent_bit):
    event = {"info": {"name": "MainReportVersion", "level": "info", "invocation_id": "5d1c-inv",
                      "msg": "Running with dbt=1.11.16"}, "data": {"version": "=1.11.16"}}
    assert [index for index, _ in ship(fluent_bit, "kube.y", {"log": json.dumps(event), "kubernetes": DBT_POD})] == [
        "airbyte-logs-2026.11.20"]


def cnpg_line(logger: str, message: str, audit: dict | None = None) -> str:
    record = {"log_time": "2026-11-20 10:15:02.123 UTC", "user_name": "migrator", "database_name": "platform",
              "process_id": "812", "connection_from": "10.42.0.17:53122", "session_id": "673dba1e.32c",
              "error_severity": "LOG", "sql_state_code": "00000", "message": message,
              "backend_type": "client backend"}
    if audit:
        record["audit"] = audit
    return json.dumps({"level": "info", "ts": "2026-11-20T10:15:02.123456Z", "logger": logger, "msg": "record",
                       "logging_pod": "metadata-1", "record": record})


def test_a_pgaudit_record_becomes_an_audit_document(fluent_bit):
    audit = {"audit_type": "SESSION", "statement_id": "1", "substatement_id": "1", "class": "DDL",
             "command": "CREATE TABLE", "object_type": "TABLE", "object_name": "gold.orders",
             "statement": "CREATE TABLE gold.orders (id int)", "parameter": "<not logged>"}
    line = cnpg_line("pgaudit", "AUDIT: SESSION,1,1,DDL,CREATE TABLE,TABLE,gold.orders,...", audit)
    assert ship(fluent_bit, "kube.z", {"log": line, "kubernetes": PG_POD}) == [
        ("platform-audit-2026.11.20", {
            "timestamp": "2026-11-20T10:15:02.123Z", "source": "postgresql", "actor": "migrator",
            "database": "platform", "class": "DDL", "action": "CREATE TABLE", "object": "gold.orders",
            "statement": "CREATE TABLE gold.orders (id int)", "remote_address": "10.42.0.17:53122",
        })
    ]


def test_ordinary_postgres_lines_are_not_shipped(fluent_bit):
    line = cnpg_line("postgres", "checkpoint complete: wrote 3 buffers")
    assert ship(fluent_bit, "kube.z", {"log": line, "kubernetes": PG_POD}) == []


def test_a_minio_audit_event_becomes_an_audit_document(fluent_bit):
    event = {"version": "1", "deploymentid": "b9b3", "time": "2026-11-20T10:15:02.123456789Z", "event": "",
             "trigger": "incoming", "api": {"name": "PutObject", "bucket": "dataplatform-dev-bronze",
                                            "object": "shop/orders/date=2026-11-20/part-0.parquet",
                                            "status": "OK", "statusCode": 200, "timeToResponse": "8ms"},
             "remotehost": "10.42.1.9", "requestID": "187A", "userAgent": "airbyte", "accessKey": "ingestion"}
    assert ship(fluent_bit, MINIO_AUDIT_TAG, event) == [
        ("platform-audit-2026.11.20", {
            "timestamp": "2026-11-20T10:15:02.123Z", "source": "minio", "class": "S3", "actor": "ingestion",
            "action": "PutObject", "bucket": "dataplatform-dev-bronze",
            "object": "shop/orders/date=2026-11-20/part-0.parquet", "status_code": 200,
            "remote_address": "10.42.1.9",
        })
    ]


def test_logs_of_other_workloads_stay_on_the_node(fluent_bit):
    other = {"namespace_name": "dp-presentation", "pod_name": "superset-0", "container_name": "superset",
             "labels": {}}
    assert ship(fluent_bit, "kube.w", {"log": "GET /health 200", "kubernetes": other}) == []


def test_outputs_verify_tls_and_write_daily_indices(fluent_bit):
    indices = [output for output in fluent_bit.outputs if output.get("Name") == "es"]
    for output in indices:
        assert (output.get("tls"), output.get("tls.verify"), output.get("Logstash_Format")) == ("On", "On", "On")
        assert output.get("Logstash_DateFormat") == "%Y.%m.%d"
    assert {output.get("Logstash_Prefix") for output in indices} == set(MAPPINGS)
    # The only other output serves the metrics derived from logs, and only those (tests/components/test_log_metrics.py).
    (exporter,) = [output for output in fluent_bit.outputs if output.get("Name") != "es"]
    assert (exporter.get("Name"), exporter.get("Match"), exporter.get("Port")) == (
        "prometheus_exporter", "logmetrics.*", str(logshipping.LOG_METRICS_PORT))
