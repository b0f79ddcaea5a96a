"""Alert rules as a plan declares them, judged by Prometheus's own `promtool` (Debian's `prometheus` package).

    rules = plan_rule_groups(recording)                 # every PrometheusRule group of the plan, as deployed
    check_rules(rules)                                  # `promtool check rules`: syntax, PromQL, templates
    run_rule_tests(rules, [AlertCase(...), ...])        # `promtool test rules` over synthetic series

An `AlertCase` is one unit test of one alert: the series Prometheus would have scraped (real metric and label names
of the exporter, with the source that names them), an evaluation time, and the alerts expected then (an empty list
is the silent case: the alert must not fire). Each case is written as its own promtool test group against the
rule file built from the plan, so a failure names the case.

Debian's promtool is 2.42 while the platform runs Prometheus 3.x: cases evaluate well inside a `for` period or well
past it, never at a boundary of a range or of `for` (range selectors' boundaries changed in 3.0).
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from infra.offline.harness import Recording, unwrap_secret
from tests.support.system import executable

PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"


def promtool() -> str:
    return executable("promtool", "promtool")


def plan_rule_groups(recording: Recording) -> list[dict[str, Any]]:
    """Every rule group of every PrometheusRule the plan declares, in declaration order."""
    groups: list[dict[str, Any]] = []
    for resource in recording.of_type(PROMETHEUS_RULE):
        spec = unwrap_secret(resource.inputs["spec"])
        groups.extend(spec["groups"])
    return groups


def alerts_of(groups: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Alert name -> its rule, over all groups."""
    return {rule["alert"]: rule for group in groups for rule in group["rules"] if "alert" in rule}


def label_set(text: str) -> dict[str, str]:
    """`a="1", b="2"` (a selector's inside, as the cases write them) as a mapping."""
    pairs = (item.split("=", 1) for item in text.split(", "))
    return {key: value.strip('"') for key, value in pairs}


def firing(alert: str, runbooks: str, labels: dict[str, str], summary: str,
           severity: str = "warning") -> tuple[dict[str, dict[str, str]], ...]:
    """One firing instance of `alert` as promtool compares it: its labels with the rule's severity, its summary and
    its runbook (the section named after the alert in the document `runbooks`)."""
    return ({"exp_labels": {**labels, "severity": severity},
             "exp_annotations": {"summary": summary, "runbook_url": f"{runbooks}#{alert.lower()}"}},)


@dataclass(frozen=True)
class Series:
    """One input series in promtool's notation: `values` like '0+60x100' (start, step per interval, count)."""

    selector: str
    values: str

    def document(self) -> dict[str, str]:
        return {"series": self.selector, "values": self.values}


@dataclass(frozen=True)
class AlertCase:
    """One firing or silent case of one alert."""

    name: str
    alert: str
    series: tuple[Series, ...]
    eval_time: str
    expected: tuple[dict[str, dict[str, str]], ...] = ()
    """Each firing instance as promtool compares it: `{"exp_labels": {...}, "exp_annotations": {...}}`
    (labels include the rule's own: alertname excluded, severity included). Empty: the alert must be silent."""
    interval: str = "1m"
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def fires(self) -> bool:
        return bool(self.expected)

    def document(self, runbook_base: str = "") -> dict[str, Any]:
        """The promtool test group; each expected `runbook_url` (written repository-relative, as a stack without
        `alerting.runbookBaseUrl` declares it) prefixed with the stack's `runbook_base`."""
        return {
            "name": self.name,
            "interval": self.interval,
            "input_series": [series.document() for series in self.series],
            "alert_rule_test": [{"eval_time": self.eval_time, "alertname": self.alert,
                                 "exp_alerts": [_with_base(instance, runbook_base) for instance in self.expected]}],
        }


def _with_base(instance: dict[str, dict[str, str]], runbook_base: str) -> dict[str, dict[str, str]]:
    annotations = instance.get("exp_annotations")
    if not annotations or "runbook_url" not in annotations:
        return dict(instance)
    return {**instance, "exp_annotations": {**annotations, "runbook_url": runbook_base + annotations["runbook_url"]}}


@dataclass(frozen=True)
class PromtoolResult:
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def _write_rules(folder: Path, groups: list[dict[str, Any]]) -> Path:
    path = folder / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


def check_rules(groups: list[dict[str, Any]]) -> PromtoolResult:
    with tempfile.TemporaryDirectory(prefix="promtool-") as folder:
        rules = _write_rules(Path(folder), groups)
        answer = subprocess.run([promtool(), "check", "rules", str(rules)], capture_output=True, text=True)
        return PromtoolResult(answer.returncode, answer.stdout + answer.stderr)


def run_rule_tests(groups: list[dict[str, Any]], cases: list[AlertCase], runbook_base: str = "") -> PromtoolResult:
    """`promtool test rules` with every case as its own test group, against the plan's rule file (whose runbook
    links start with `runbook_base`, the stack's `alerting.runbookBaseUrl`)."""
    with tempfile.TemporaryDirectory(prefix="promtool-") as folder:
        rules = _write_rules(Path(folder), groups)
        tests = Path(folder) / "tests.yaml"
        tests.write_text(yaml.safe_dump({
            "rule_files": [rules.name],
            "evaluation_interval": "1m",
            "tests": [case.document(runbook_base) for case in cases],
        }, sort_keys=False))
        answer = subprocess.run([promtool(), "test", "rules", tests.name], capture_output=True, text=True,
                                cwd=folder)
        return PromtoolResult(answer.returncode, answer.stdout + answer.stderr)
