"""Metric names read from PromQL with a real parser (PyPI `promql-parser`, GreptimeTeam's Python binding of the Rust
crate `promql-parser`), and where each name of a plan may come from.

    selectors("sum(rate(x{a=\"b\"}[5m])) / y")      # [Selector("x", 'x{a="b"}'), Selector("y", "y")]
    names = plan_metric_names(recording)            # what the plan's rules and dashboards may select
    unknown = unresolved(recording)                  # every selector whose metric nothing serves, with where it is

A selector resolves when its metric is served by an exporter of components/monitoring/inventory.py that the plan
scrapes, recorded by a recording rule of the plan, or derived from logs by a `log_to_metrics` filter of the plan's
Fluent Bit configuration.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any

import promql_parser

from components.monitoring.inventory import INVENTORY, Exporter
from infra.offline.harness import Recording, unwrap_secret
from tests.support.fluentbit import metric_series, parse_sections
from tests.support.promtool import plan_rule_groups

RELEASE = "kubernetes:helm.sh/v3:Release"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
MONITORS = ("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "kubernetes:monitoring.coreos.com/v1:PodMonitor")
DASHBOARD_LABEL = ("grafana_dashboard", "1")
# Grafana's interval variables, replaced by a duration before parsing (Grafana substitutes them before it sends the
# query); no other variable may appear in a panel's expression.
GRAFANA_INTERVALS = re.compile(r"\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}")
INVENTORY_FILE = "components/monitoring/inventory.py"


@dataclass(frozen=True)
class Selector:
    metric: str | None
    """The metric name (None: the selector has none, or a `__name__` matcher that is not an equality)."""
    text: str


@dataclass(frozen=True)
class Query:
    """One PromQL expression of a plan, and where it is."""

    where: str
    """`alert X (PrometheusRule group g)`, `record r (...)`, `panel "T" of dashboard d`."""
    expr: str


def selectors(expr: str) -> list[Selector]:
    """Every vector selector of `expr` (inside functions, ranges, subqueries, binary operations), in order."""
    found: list[Selector] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            name = node.name
            if name is None:
                equal = [m.value for m in node.matchers.matchers
                         if m.name == "__name__" and m.op == promql_parser.MatchOp.Equal]
                name = equal[0] if equal else None
            found.append(Selector(name, str(node)))

    promql_parser.walk(promql_parser.parse(GRAFANA_INTERVALS.sub("5m", expr)), visit)
    return found


def rule_queries(recording: Recording) -> list[Query]:
    queries = []
    for group in plan_rule_groups(recording):
        for rule in group["rules"]:
            kind, name = ("alert", rule["alert"]) if "alert" in rule else ("record", rule["record"])
            queries.append(Query(f"{kind} {name} (PrometheusRule group {group['name']})", rule["expr"]))
    return queries


def dashboards(recording: Recording) -> dict[str, dict]:
    """The Grafana dashboards the plan ships (ConfigMaps with the sidecar's label): file name -> dashboard."""
    found = {}
    for config_map in recording.of_type(CONFIG_MAP):
        labels = config_map.input("metadata").get("labels") or {}
        if labels.get(DASHBOARD_LABEL[0]) == DASHBOARD_LABEL[1]:
            for file_name, text in config_map.input("data").items():
                found[file_name] = json.loads(text)
    return found


def panels(dashboard: dict) -> list[dict]:
    """Every panel, rows' nested panels included."""
    out = []
    for panel in dashboard.get("panels", []):
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def dashboard_queries(recording: Recording) -> list[Query]:
    return [Query(f'panel "{panel["title"]}" of dashboard {file_name}', target["expr"])
            for file_name, dashboard in sorted(dashboards(recording).items())
            for panel in panels(dashboard) for target in panel.get("targets", [])]


def scraped_exporters(recording: Recording) -> list[Exporter]:
    """The inventory's exporters this plan scrapes: those the Prometheus chart scrapes itself, those whose
    ServiceMonitor/PodMonitor the plan declares, and those the cluster is documented to scrape where the plan does
    not (`Exporter.otherwise`)."""
    monitors = {resource.input("metadata")["name"] for kind in MONITORS for resource in recording.of_type(kind)}
    return [exporter for exporter in INVENTORY
            if not exporter.monitors or set(exporter.monitors) & monitors or exporter.otherwise]


def log_derived(recording: Recording) -> set[str]:
    """The series the plan's Fluent Bit derives from logs (its `log_to_metrics` filters; a histogram's
    `_bucket`, `_count` and `_sum`)."""
    names: set[str] = set()
    for release in recording.of_type(RELEASE):
        if release.input("name") != "fluent-bit":
            continue
        filters = unwrap_secret(release.inputs["values"])["config"]["filters"]
        for section in parse_sections(filters):
            if section.get("Name") == "log_to_metrics":
                series = metric_series(section)
                if section.get("Metric_Mode") == "histogram":
                    names |= {f"{series}_bucket", f"{series}_count", f"{series}_sum"}
                else:
                    names.add(series)
    return names


def recorded(recording: Recording) -> set[str]:
    return {rule["record"] for group in plan_rule_groups(recording) for rule in group["rules"] if "record" in rule}


def plan_metric_names(recording: Recording) -> set[str]:
    served = {name for exporter in scraped_exporters(recording) for name in exporter.metrics}
    return served | recorded(recording) | log_derived(recording)


def unresolved(recording: Recording, queries: list[Query]) -> list[str]:
    """One line per selector whose metric the plan does not serve: where it is, the selector, and what to do."""
    known = plan_metric_names(recording)
    everywhere = {name for exporter in INVENTORY for name in exporter.metrics}
    problems = []
    for query in queries:
        for selector in selectors(query.expr):
            if selector.metric is None:
                problems.append(f"{query.where}: selector `{selector.text}` has no metric name (or a `__name__` "
                                "that is not an equality): name the metric, so it can be checked")
                continue
            if selector.metric in known:
                continue
            if selector.metric in everywhere:
                exporter = next(e for e in INVENTORY if selector.metric in e.metrics)
                problems.append(f"{query.where}: selector `{selector.text}` names `{selector.metric}`, which "
                                f"{exporter.name} serves, but this plan does not scrape it ({exporter.scraped})")
                continue
            near = difflib.get_close_matches(selector.metric, sorted(everywhere | known), n=2)
            hint = f" (did you mean {' or '.join(f'`{name}`' for name in near)}?)" if near else ""
            problems.append(
                f"{query.where}: selector `{selector.text}` names `{selector.metric}`, which no exporter of "
                f"{INVENTORY_FILE} serves, no recording rule of the plan records and the log shipper does not derive"
                f"{hint}. Add it to the `metrics` of its exporter's `Source` in {INVENTORY_FILE} (citing the file "
                "that defines it, owner/repo/path@tag), record it with a `RecordingRule`, or derive it with a "
                "`LogMetric` in components/<product>/log_routes.py")
    return problems
