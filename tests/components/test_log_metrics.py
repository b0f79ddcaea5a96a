"""The series the log shipper derives from logs, and the alerts that read them.

Dremio's queries.json lines and Superset's gunicorn access lines run through the rendered Fluent Bit configuration
(its Lua script run by LuaJIT, its log_to_metrics filters and prometheus_exporter output modelled in
tests/support/fluentbit.py); the series names come from the rendered sections, as Fluent Bit builds them, and the
alert expressions must read exactly those. The chart values, the runtime's scrape target, the catalog's port and
the NetworkPolicies must let Prometheus reach the exporter.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import lupa.luajit21 as lupa
import pytest

from components.lakehouse import batch
from components.lakehouse import log_routes as lakehouse_logs
from components.lakehouse import spec as lakehouse_spec
from components.logs import shipping as logshipping
from components.monitoring.component import base_targets
from components.platform import LOG_SOURCES, flow_tables, outside_networks, runtime_releases
from components.presentation import log_routes as presentation_logs
from components.presentation import spec as presentation_spec
from components.runtime import values as runtime_values
from components.runtime.network import network_policies
from infra.model.catalog import load_catalog
from infra.model.config import parse_stack_config, project_values
from infra.model.stackfiles import load_stack
from tests.support.fluentbit import FluentBit, metric_series, parse_sections, platform_config, platform_shipper

TIME = datetime(2026, 11, 20, 10, 15, 2, 345000, tzinfo=UTC)
SUPERSET_POD = {"namespace_name": "dp-presentation", "pod_name": "superset-7d9f-abcde", "container_name": "superset",
                "labels": {"app": "superset"}}
# Gunicorn's default access_log_format, which Superset's run-server.sh keeps (access log on stdout).
GUNICORN_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'
DREMIO_SERIES = "log_metric_histogram_dremio_query_duration_seconds"
SUPERSET_SERIES = "log_metric_counter_superset_http_responses_total"
SYNC_FAILED = "log_metric_gauge_batch_sync_failed_timestamp_seconds"
SYNC_SUCCEEDED = "log_metric_gauge_batch_sync_succeeded_timestamp_seconds"
STALE = "log_metric_gauge_dbt_source_stale_timestamp_seconds"
FRESH = "log_metric_gauge_dbt_source_fresh_timestamp_seconds"
BATCH_SERIES = (SYNC_FAILED, SYNC_SUCCEEDED, STALE, FRESH)


def fluent_bit() -> FluentBit:
    return platform_shipper()


def query_line(start: int, finish: int, **extra) -> str:
    return json.dumps({"queryId": "1a2b3c4d-0000-1111-2222-333344445555", "context": "[gold, marts]",
                       "queryText": "SELECT 1", "start": start, "finish": finish, "outcome": "COMPLETED",
                       "username": "superset", "queryType": "FLIGHT", "parentsList": [], **extra})


def access_line(request: str, status: int) -> str:
    atoms = {"h": "10.42.0.17", "l": "-", "u": "-", "t": "[20/Nov/2026:10:15:02 +0000]", "r": request,
             "s": str(status), "b": "512", "f": "-", "a": "python-requests/2.32.5"}
    return GUNICORN_FORMAT % atoms


def rendered_metrics() -> dict[str, dict[str, str]]:
    """Series name -> the log_to_metrics section that produces it, from the rendered filters."""
    sections = parse_sections(platform_config()["filters"])
    return {metric_series(section): {key: value for key, value in section.entries}
            for section in sections if section.get("Name") == "log_to_metrics"}


# ---- what the rendered configuration produces ----------------------------------------------------------------


def test_the_rendered_filters_produce_the_series_the_alerts_read():
    metrics = rendered_metrics()
    assert set(metrics) == {DREMIO_SERIES, SUPERSET_SERIES, *BATCH_SERIES}
    assert sorted(metric.series for metric in logshipping.log_metrics(LOG_SOURCES)) == sorted(
        [DREMIO_SERIES, SUPERSET_SERIES, *BATCH_SERIES])
    assert metrics[DREMIO_SERIES]["Metric_Mode"] == "histogram"
    assert metrics[DREMIO_SERIES]["Value_Field"] == "duration_seconds"
    assert metrics[SUPERSET_SERIES]["Metric_Mode"] == "counter"
    assert metrics[SUPERSET_SERIES]["Label_Field"] == "status_class"
    # Every metrics tag reaches the exporter; no index output takes them.
    outputs = parse_sections(platform_config()["outputs"])
    for section in metrics.values():
        assert [output.get("Name") for output in outputs if output.matches(section["Tag"])] == ["prometheus_exporter"]


def test_the_dremio_alert_reads_the_rendered_histogram_at_a_bucket_it_has():
    (rule,) = [rule for rule in lakehouse_spec.alert_rules(30) if rule.alert == "DremioSlowQueries"]
    assert rule.expr == (f"sum(increase({DREMIO_SERIES}_count[10m])) - "
                         f'sum(increase({DREMIO_SERIES}_bucket{{le="30.0"}}[10m])) > 0')
    assert set(re.findall(r"log_metric_\w+?(?=_count|_bucket|_sum|\b)", rule.expr)) == {DREMIO_SERIES}
    assert {DREMIO_SERIES} <= set(rendered_metrics())
    # Every allowed threshold is a bound the exporter prints, in the form the alert writes it.
    histogram = rendered_metrics()[DREMIO_SERIES]
    (section,) = [section for section in parse_sections(platform_config()["filters"])
                  if section.get("Metric_Name") == histogram["Metric_Name"]]
    assert [float(bound) for bound in section.all("Bucket")] == [float(b) for b in lakehouse_spec.QUERY_BUCKETS]
    shipper = fluent_bit()
    shipper.run(lakehouse_logs.QUERY_TAG, TIME, {"log": query_line(0, 1)})
    exposition = shipper.exposition()
    for seconds in lakehouse_spec.QUERY_BUCKETS:
        (slow,) = [rule for rule in lakehouse_spec.alert_rules(seconds) if rule.alert == "DremioSlowQueries"]
        (bound,) = re.findall(r'le="([^"]+)"', slow.expr)
        assert f'{DREMIO_SERIES}_bucket{{le="{bound}"}}' in exposition


def test_the_superset_alert_reads_the_rendered_counter_by_status_class():
    (rule,) = [rule for rule in presentation_spec.alert_rules() if rule.alert == "SupersetApiErrors"]
    assert rule.expr == (f'sum(rate({SUPERSET_SERIES}{{status_class="5"}}[5m])) '
                         f"/ clamp_min(sum(rate({SUPERSET_SERIES}[5m])), 1e-9) > 0.05")
    assert set(re.findall(r"log_metric_\w+", rule.expr)) == {SUPERSET_SERIES} <= set(rendered_metrics())


# ---- Dremio: the Lua filter and the histogram -------------------------------------------------------------------


def test_the_lua_script_computes_seconds_from_epoch_millis():
    runtime = lupa.LuaRuntime(unpack_returned_tuples=True)
    runtime.execute(lakehouse_logs.QUERY_LUA_SCRIPT)
    compute = runtime.globals()[lakehouse_logs.QUERY_LUA_CALL]

    def call(record: dict) -> tuple[int, dict]:
        code, _, result = compute("dremio.query", 1763633702.345, runtime.table_from(record))
        return code, dict(result.items())

    assert call({"start": 1763633700000, "finish": 1763633702345}) == (
        2, {"start": 1763633700000, "finish": 1763633702345, "duration_seconds": "2.345"})
    assert call({"start": "1763633700000", "finish": "1763633760000"})[1]["duration_seconds"] == "60.000"
    for untouched in ({"eventType": "LOGIN", "username": "admin"}, {"start": 5, "finish": 4},
                      {"start": 1, "finish": "later"}):
        assert call(untouched) == (0, untouched)


def test_query_durations_fill_the_histogram_and_the_audit_document_keeps_its_fields():
    shipper = fluent_bit()
    (document,) = shipper.run(lakehouse_logs.QUERY_TAG, TIME,
                              {"log": query_line(1763633700000, 1763633702345)})
    assert document.index == "platform-audit-2026.11.20"
    assert "duration_seconds" not in document.body and document.body["object"].startswith("1a2b3c4d")
    shipper.run(lakehouse_logs.QUERY_TAG, TIME, {"log": query_line(1763633700000, 1763633745000)})
    # An audit.json record (Enterprise) has no start and finish: shipped, not observed.
    audit = json.dumps({"eventType": "LOGIN", "username": "platform-admin", "outcome": "SUCCESS"})
    assert len(shipper.run(lakehouse_logs.QUERY_TAG, TIME, {"log": audit})) == 1
    assert shipper.exposition().splitlines() == [
        f'{DREMIO_SERIES}_bucket{{le="1.0"}} 0',
        f'{DREMIO_SERIES}_bucket{{le="5.0"}} 1',
        f'{DREMIO_SERIES}_bucket{{le="10.0"}} 1',
        f'{DREMIO_SERIES}_bucket{{le="30.0"}} 1',
        f'{DREMIO_SERIES}_bucket{{le="60.0"}} 2',
        f'{DREMIO_SERIES}_bucket{{le="120.0"}} 2',
        f'{DREMIO_SERIES}_bucket{{le="300.0"}} 2',
        f'{DREMIO_SERIES}_bucket{{le="600.0"}} 2',
        f'{DREMIO_SERIES}_bucket{{le="+Inf"}} 2',
        f"{DREMIO_SERIES}_sum 47.345",
        f"{DREMIO_SERIES}_count 2",
    ]


# ---- Superset: gunicorn's access log and the counter -----------------------------------------------------------


def test_access_lines_are_counted_by_status_class_and_not_shipped():
    shipper = fluent_bit()
    lines = [access_line("GET /api/v1/chart/?q=(page:0) HTTP/1.1", 200),
             access_line("GET /api/v1/dashboard/3 HTTP/1.1", 200),
             access_line("POST /api/v1/chart/data HTTP/1.1", 500),
             access_line("GET /api/v1/dataset/7 HTTP/1.1", 503),
             access_line("GET /login/ HTTP/1.1", 302),
             access_line("GET /health HTTP/1.1", 200)]  # the kubelet's probes are not responses to users
    for line in lines:
        assert shipper.run("kube.var.log.containers.superset.log", TIME,
                           {"log": line, "kubernetes": SUPERSET_POD}) == []
    assert sorted(shipper.exposition().splitlines()) == [
        f'{SUPERSET_SERIES}{{status_class="2"}} 2',
        f'{SUPERSET_SERIES}{{status_class="3"}} 1',
        f'{SUPERSET_SERIES}{{status_class="5"}} 2',
    ]


def test_event_lines_still_reach_the_audit_index_and_are_not_counted():
    shipper = fluent_bit()
    event = json.dumps({"superset_event": "DashboardRestApi.get", "actor": "7", "object": "/api/v1/dashboard/3"})
    (document,) = shipper.run("kube.x", TIME, {"log": event, "kubernetes": SUPERSET_POD})
    assert document.index == "platform-audit-2026.11.20"
    assert shipper.exposition() == ""


def test_the_access_parser_reads_gunicorns_default_format():
    pattern = fluent_bit().regex_of("gunicorn_access")
    found = pattern.search(access_line("DELETE /api/v1/chart/9?x=1 HTTP/1.1", 404))
    assert found.groupdict() == {"method": "DELETE", "path": "/api/v1/chart/9", "status_class": "4"}
    assert re.search(presentation_logs.GUNICORN_ACCESS_LINE, access_line("GET / HTTP/1.1", 200))
    assert " " not in presentation_logs.GUNICORN_ACCESS_LINE  # rewrite_tag splits its rule on spaces


# ---- how the series reach Prometheus ---------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_chart_mounts_the_script_and_serves_the_exporter_port(stack):
    config = parse_stack_config(project_values(load_stack(stack).config), stack)
    (release,) = [spec for spec in runtime_releases(config)
                  if spec.name == "fluent-bit"]
    values = release.rendered_values()
    filters = parse_sections(values["config"]["filters"])
    luas = [section for section in filters if section.get("Name") == "lua"]
    assert len(luas) == 2
    for lua in luas:
        directory, _, script = lua.get("script").rpartition("/")
        assert directory == logshipping.LUA_DIR == "/fluent-bit/scripts"  # where the chart mounts `luaScripts`
        assert values["luaScripts"] == logshipping.lua_scripts(LOG_SOURCES) and script in values["luaScripts"]
    assert all("{{" not in text for text in values["luaScripts"].values())  # the chart runs them through `tpl`
    ports = {port["name"]: port for port in values["extraPorts"]}
    assert ports["log-metrics"] == {"name": "log-metrics", "port": 2021, "containerPort": 2021, "protocol": "TCP"}
    (exporter,) = [o for o in parse_sections(values["config"]["outputs"]) if o.get("Name") == "prometheus_exporter"]
    assert exporter.get("Port") == str(runtime_values.LOG_SHIPPER_LOG_METRICS_PORT) == "2021"


def test_prometheus_scrapes_the_exporter_and_the_network_lets_it():
    dev = parse_stack_config(project_values(load_stack("dev").config), "dev")
    (target,) = [target for target in base_targets(dev.kubernetes, dev.storage)
                 if target.name == "fluent-bit-log-metrics"]
    manifest = target.manifest()
    assert (manifest["kind"], manifest["metadata"]["namespace"]) == ("ServiceMonitor", "dp-logs")
    assert manifest["spec"]["endpoints"] == [{"port": "log-metrics", "path": "/metrics", "interval": "30s"}]
    catalog = load_catalog()
    (shipper,) = [service for service in catalog.services if service.name == "log-shipper"]
    assert {(port.name, port.port, port.purpose) for port in shipper.ports} >= {("log-metrics", 2021, "metrics")}
    policies = {(m["metadata"]["namespace"], m["metadata"]["name"]): m
                for m in network_policies(flow_tables(dev, catalog), outside_networks(dev))}
    ingress = policies[("dp-logs", "fluent-bit-ingress")]["spec"]["ingress"]
    from_prometheus = [rule for rule in ingress if rule["from"][0]["namespaceSelector"]["matchLabels"]
                       == {"kubernetes.io/metadata.name": "dp-monitoring"}]
    assert from_prometheus[0]["ports"] == [{"protocol": "TCP", "port": 2020}, {"protocol": "TCP", "port": 2021}]
    egress = policies[("dp-monitoring", "prometheus-egress")]["spec"]["egress"]
    to_shipper = [rule for rule in egress if rule["to"][0].get("namespaceSelector", {}).get("matchLabels")
                  == {"kubernetes.io/metadata.name": "dp-logs"}
                  and rule["to"][0]["podSelector"]["matchLabels"].get("app.kubernetes.io/name") == "fluent-bit"]
    assert {"protocol": "TCP", "port": 2021} in to_shipper[0]["ports"]


# ---- the batch: per-connection syncs and dbt's freshness results ------------------------------------------------


def test_the_syncs_steps_lines_give_each_connections_latest_outcome_time():
    shipper = fluent_bit()
    pod = {"namespace_name": "dp-lakehouse", "pod_name": "batch-29412060-x7k2p", "container_name": "syncs",
           "labels": {"app.kubernetes.io/name": "batch"}}
    for connection, outcome, at in (("postgres-to-bronze", "succeeded", 1000.5), ("postgres-to-bronze", "failed",
                                                                                  2000.25),
                                    ("mysql-to-bronze", "succeeded", 2000.0)):
        line = json.dumps({"batch_step": "syncs", "sync": outcome, "connection": connection, "job_id": 7,
                           "status": outcome, "at": at, "level": "INFO", "message": f"sync {outcome}",
                           "connection_id": "0b1c", "records_synced": 12})
        documents = shipper.run("kube.var.log.containers.batch", TIME, {"log": line, "kubernetes": pod})
        (document,) = documents
        assert document.index.startswith("airbyte-logs-")
        assert {key: document.body[key] for key in ("service", "connection_id", "records_synced", "level")} == {
            "service": "batch", "connection_id": "0b1c", "records_synced": 12, "level": "INFO"}
    exposition = shipper.exposition()
    assert f'{SYNC_FAILED}{{connection="postgres-to-bronze"}} 2000.25' in exposition
    assert f'{SYNC_SUCCEEDED}{{connection="postgres-to-bronze"}} 1000.5' in exposition
    assert f'{SYNC_SUCCEEDED}{{connection="mysql-to-bronze"}} 2000.0' in exposition
    assert f'{SYNC_FAILED}{{connection="mysql-to-bronze"}}' not in exposition


def freshness_event(status: str, table: str) -> str:
    """dbt 1.11's LogFreshnessResult (Q018) as `--log-format json` prints it."""
    level = {"pass": "info", "warn": "warn", "error": "error"}[status]
    return json.dumps({
        "info": {"name": "LogFreshnessResult", "code": "Q018", "msg": f"{status.upper()} freshness of postgres.{table}",
                 "level": level, "invocation_id": "5f7c4c4e-0000-4000-8000-000000000001", "pid": 7, "thread": "T-1",
                 "ts": "2026-11-20T10:15:02.345678Z"},
        "data": {"status": status, "source_name": "postgres", "table_name": table, "index": 1, "total": 2,
                 "execution_time": 0.2, "node_info": {"unique_id": f"source.dataplatform.postgres.{table}"}}})


def test_dbts_freshness_results_give_each_tables_latest_stale_and_fresh_time():
    shipper = fluent_bit()
    pod = {"namespace_name": "dp-lakehouse", "pod_name": "batch-29412060-x7k2p", "container_name": "dbt",
           "labels": {"app.kubernetes.io/name": "batch"}}
    later = TIME.replace(minute=16)
    for time, status, table in ((TIME, "warn", "orders"), (later, "pass", "customers"), (later, "error", "orders")):
        documents = shipper.run("kube.var.log.containers.batch", time,
                                {"log": freshness_event(status, table), "kubernetes": pod})
        # The event still reaches the job-log index once; its metrics copy is dropped.
        assert [document.index.split("-")[0] for document in documents] == ["airbyte"]
    exposition = shipper.exposition()
    assert f'{STALE}{{source_name="postgres",table_name="orders"}} {later.timestamp()}' in exposition
    assert f'{FRESH}{{source_name="postgres",table_name="customers"}} {later.timestamp()}' in exposition
    assert f'{FRESH}{{source_name="postgres",table_name="orders"}}' not in exposition


def test_the_batch_alerts_read_the_rendered_series():
    rules = {rule.alert: rule for rule in batch.alert_rules(load_catalog().transformations.schedule)}
    assert set(re.findall(r"log_metric_\w+", rules["BatchSyncFailed"].expr)) == {SYNC_FAILED, SYNC_SUCCEEDED}
    assert set(re.findall(r"log_metric_\w+", rules["DbtSourceStale"].expr)) == {STALE, FRESH}
    assert set(BATCH_SERIES) <= set(rendered_metrics())
