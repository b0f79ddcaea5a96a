"""Every metric the plans' alerts, recording rules and dashboard panels select exists: each selector, read with a
PromQL parser (tests/support/promql.py), names a metric that an exporter the plan scrapes serves at its pinned
version (components/monitoring/inventory.py, each name citing the vendor file that defines it), that a recording
rule of the plan records, or that the plan's log shipper derives from logs. A misspelt or invented name fails here,
naming the rule or panel and where to add the name.

What this proves: the names agree with the inventory, whose names were read from the cited vendor files at the
cited tags (our reading, recorded with its sources); the log-derived names come from the plan's own Fluent Bit
configuration."""

from __future__ import annotations

import re

import promql_parser
import pytest

from components.ingestion.spec import CONNECTION_ID_LABEL
from components.monitoring import inventory
from components.monitoring.component import AlertRule, RecordingRule
from tests.support import promql

STACKS = ["dev", "prod"]
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
CITATION = re.compile(r"^[\w.-]+/[\w.-]+/[\w./-]+@[\w.-]+$")


@pytest.mark.parametrize("stack", STACKS)
def test_every_selector_of_every_rule_and_panel_names_a_metric_the_plan_serves(stack, stack_recording):
    recording = stack_recording(stack)
    queries = promql.rule_queries(recording) + promql.dashboard_queries(recording)
    assert len(queries) > 10  # the plan has rules to check (a broken reader would find none)
    problems = promql.unresolved(recording, queries)
    assert not problems, f"{stack}:\n" + "\n".join(problems)


def test_an_unknown_metric_is_named_with_its_rule_and_where_to_add_it(dev):
    typo = AlertRule("DremioBackupLate", 'time() - kube_cronjob_status_last_succesful_time{cronjob="x"} > 60',
                     "late").rule()
    queries = [promql.Query("alert DremioBackupLate (PrometheusRule group test)", typo["expr"]),
               promql.Query("record r (PrometheusRule group test)",
                            RecordingRule("r", "sum(rate(airbyte_records_synced_total[5m]))").rule()["expr"])]
    problems = promql.unresolved(dev, queries)
    assert len(problems) == 2
    assert problems[0].startswith(
        "alert DremioBackupLate (PrometheusRule group test): selector "
        '`kube_cronjob_status_last_succesful_time{cronjob="x"}` names `kube_cronjob_status_last_succesful_time`, '
        "which no exporter of components/monitoring/inventory.py serves")
    assert "did you mean `kube_cronjob_status_last_successful_time`" in problems[0]
    assert "Add it to the `metrics` of its exporter's `Source` in components/monitoring/inventory.py" in problems[0]
    assert "`airbyte_records_synced_total`" in problems[1]


def test_a_metric_of_an_exporter_the_plan_does_not_scrape_is_refused(prod):
    """prod runs RDS and S3: CloudNativePG's and MinIO's series exist only where their monitors are declared."""
    problems = promql.unresolved(prod, [promql.Query("panel \"Connections\" of dashboard x.json",
                                                     "sum(cnpg_backends_total)")])
    assert len(problems) == 1 and "CloudNativePG instance manager serves, but this plan does not scrape it" in (
        problems[0])


def test_selectors_are_read_by_the_parser_not_by_pattern():
    expr = ('sum by (namespace) (increase(a_total{x=~"y|z"}[10m])) / on (namespace) group_left '
            'max_over_time(b[1h:5m]) or {__name__="c", d="e"} unless absent(f offset 5m) '
            'and histogram_quantile(0.9, sum by (le) (rate(g_bucket[$__rate_interval])))')
    assert [selector.metric for selector in promql.selectors(expr)] == ["a_total", "b", "c", "f", "g_bucket"]
    with pytest.raises(ValueError):
        promql.selectors("sum(rate(a[5m])")
    assert promql.selectors('{__name__=~"kube_.*"}')[0].metric is None


def test_the_inventory_cites_a_vendor_file_for_every_name_and_claims_each_name_once():
    names = inventory.metric_sources()
    assert len(names) == sum(len(exporter.metrics) for exporter in inventory.INVENTORY)
    for exporter in inventory.INVENTORY:
        assert exporter.version and exporter.pinned and exporter.scraped, exporter.name
        for source in exporter.sources:
            assert CITATION.match(source.cited), source.cited
            assert source.metrics and all(METRIC_NAME.match(name) for name in source.metrics), source.cited
            assert len(set(source.metrics)) == len(source.metrics), f"a name twice in {source.cited}"


def test_every_monitor_the_inventory_names_is_declared_by_a_plan(dev, prod):
    declared = {resource.input("metadata")["name"] for recording in (dev, prod) for kind in promql.MONITORS
                for resource in recording.of_type(kind)}
    named = {monitor for exporter in inventory.INVENTORY for monitor in exporter.monitors}
    assert named - declared == set()


def _label_matchers(expr: str) -> list[tuple[str, str]]:
    """(metric, label) for every `label_*` matcher of a `kube_*_labels` selector of `expr`, read by the parser."""
    found: list[tuple[str, str]] = []

    def visit(node) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name and node.name.endswith("_labels"):
            found.extend((node.name, m.name) for m in node.matchers.matchers if m.name.startswith("label_"))

    promql_parser.walk(promql_parser.parse(promql.GRAFANA_INTERVALS.sub("5m", expr)), visit)
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_every_object_label_a_rule_selects_is_allow_listed_where_kube_state_metrics_runs(stack, stack_recording):
    """kube-state-metrics exports an object's label on `kube_<resource>_labels` only when its allow-list names it: each
    `label_*` a rule or panel selects is an `AllowedLabel` of the inventory (citing who sets it), and the plan's
    kube-state-metrics is given exactly the inventory's allow-list."""
    recording = stack_recording(stack)
    allowed = {(entry.metric, entry.series_label) for entry in inventory.ALLOWED_LABELS}
    queries = promql.rule_queries(recording) + promql.dashboard_queries(recording)
    used = {(metric, label, query.where) for query in queries for metric, label in _label_matchers(query.expr)}
    assert ("kube_pod_labels", "label_connection_id") in {(metric, label) for metric, label, _ in used}
    unknown = [f"{where}: {metric} {label}" for metric, label, where in sorted(used) if (metric, label) not in allowed]
    assert not unknown, "not allow-listed (components/monitoring/inventory.py ALLOWED_LABELS):\n" + "\n".join(unknown)
    stack_release = next(release for release in recording.of_type(promql.RELEASE)
                         if release.input("name") == "prometheus")
    values = stack_release.inputs["values"]
    assert values["kube-state-metrics"]["metricLabelsAllowlist"] == ["pods=[connection_id]"]
    assert inventory.labels_allowlist() == ["pods=[connection_id]"]
    assert ("pods", CONNECTION_ID_LABEL) in {(entry.resource, entry.label) for entry in inventory.ALLOWED_LABELS}
    for entry in inventory.ALLOWED_LABELS:
        assert CITATION.match(entry.cited), entry
