"""The plan's alert rules, judged by Prometheus's own promtool: every rule of both plans passes `promtool check
rules`, and every alert fires in its firing cases and stays silent in its silent ones (`promtool test rules` over
series with the exporters' real names and labels: tests/support/alert_cases/). An alert without both kinds of case
fails here unless it is listed in NOT_YET with the reason."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infra.model.config import parse_stack_config, project_values
from infra.model.stackfiles import load_stack
from tests.support.alert_cases import CASES
from tests.support.promtool import alerts_of, check_rules, plan_rule_groups, run_rule_tests
from tests.support.system import require

DOCS = Path(__file__).resolve().parents[2] / "docs"
STACKS = ["dev", "prod"]

# Alerts whose expressions are being reworked: each carries a measured defect, and a case written for it today
# would only confirm the defect.
NOT_YET: dict[str, str] = {}


def runbook_base(stack: str) -> str:
    """The stack's `alerting.runbookBaseUrl` as the alerts carry it ("" where unset)."""
    return parse_stack_config(project_values(load_stack(stack).config), stack).alerting.runbook_base


def _covered(groups: list[dict]) -> list:
    alerts = alerts_of(groups)
    return [case for case in CASES if case.alert in alerts]


@pytest.mark.parametrize("stack", STACKS)
def test_every_alert_rule_of_the_plan_passes_promtool_check(stack, stack_recording):
    require("promtool")
    result = check_rules(plan_rule_groups(stack_recording(stack)))
    assert result.ok, result.output


@pytest.mark.parametrize("stack", STACKS)
def test_alerts_fire_when_they_should_and_only_then(stack, stack_recording):
    require("promtool")
    groups = plan_rule_groups(stack_recording(stack))
    result = run_rule_tests(groups, _covered(groups), runbook_base(stack))
    assert result.ok, result.output


@pytest.mark.parametrize("mutant", ["vector(1) > 1", "vector(1)"], ids=["never fires", "always fires"])
def test_the_cases_catch_an_alert_that_never_or_always_fires(mutant, dev):
    """The cases are not vacuous: with each covered alert's expression replaced by one that never fires (its firing
    cases must fail) or always fires (its silent cases must fail), promtool fails for every one of them."""
    require("promtool")
    groups = plan_rule_groups(dev)
    covered = {case.alert for case in _covered(groups)}
    mutated = [{**group, "rules": [{**rule, "expr": mutant} if rule.get("alert") in covered else rule
                                   for rule in group["rules"]]} for group in groups]
    result = run_rule_tests(mutated, _covered(groups))
    assert not result.ok
    assert set(re.findall(r"alertname: (\w+)", result.output)) == covered, result.output


@pytest.mark.parametrize("stack", STACKS)
def test_every_alert_has_a_firing_and_a_silent_case(stack, stack_recording):
    alerts = alerts_of(plan_rule_groups(stack_recording(stack)))
    missing = {}
    for alert in alerts:
        kinds = {case.fires for case in CASES if case.alert == alert}
        if kinds != {True, False}:
            missing[alert] = kinds
    assert set(missing) == set(NOT_YET) & set(alerts), (
        f"alerts without a firing and a silent case: {sorted(set(missing) - set(NOT_YET))}; "
        f"covered now, remove from NOT_YET: {sorted(set(NOT_YET) & set(alerts) - set(missing))}")


def test_every_case_belongs_to_an_alert_of_a_plan(stack_recording):
    alerts = set().union(*(alerts_of(plan_rule_groups(stack_recording(stack))) for stack in STACKS))
    assert {case.alert for case in CASES} - alerts == set()
    names = [case.name for case in CASES]
    assert len(names) == len(set(names)), "case names must be unique (promtool reports a failure by name)"


def test_dev_alerts_on_its_database_backups_and_prod_leaves_rds_to_aws(dev, prod):
    backups = {"PostgresBackupLate", "PostgresBackupFailed", "PostgresWalArchivingFailing"}
    assert backups <= set(alerts_of(plan_rule_groups(dev)))
    assert not backups & set(alerts_of(plan_rule_groups(prod)))


def _anchors(markdown: str) -> set[str]:
    """The anchors of a Markdown file's headings, as rendered on a repository host (code blocks skipped)."""
    anchors, fenced = set(), False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif line.startswith("#") and not fenced:
            anchors.add(re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-"))
    return anchors


@pytest.mark.parametrize("stack", STACKS)
def test_each_alert_has_its_runbook_section(stack, stack_recording):
    base = runbook_base(stack)
    for name, rule in alerts_of(plan_rule_groups(stack_recording(stack))).items():
        url = rule["annotations"]["runbook_url"]
        assert url.startswith(base), f"{name}: {url} does not start with the stack's runbookBaseUrl {base!r}"
        document, _, anchor = url.removeprefix(base).partition("#")
        assert anchor in _anchors((DOCS.parent / document).read_text()), f"{name}: no section #{anchor} in {document}"


def test_prods_runbook_links_are_absolute_and_devs_stay_in_the_repository(dev, prod):
    """prod delivers alerts by mail and webhook, so its links must open there: the base its stack names, then the
    document and section; dev keeps every alert in Alertmanager's UI and sets no base."""
    assert runbook_base("dev") == ""
    base = runbook_base("prod")
    assert base.startswith("https://") and base.endswith("/")
    for stack, recording in (("dev", dev), ("prod", prod)):
        for name, rule in alerts_of(plan_rule_groups(recording)).items():
            url = rule["annotations"]["runbook_url"]
            assert url.startswith(f"{runbook_base(stack)}docs/") and url.endswith(f".md#{name.lower()}"), url
