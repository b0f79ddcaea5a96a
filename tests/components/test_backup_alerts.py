"""The alerts that say a store's backups have stopped, run by Prometheus's own promtool against the plan's rules.

Each alert has a firing and a silent case over series with the exporters' real names and labels: the Barman Cloud
plugin's backup timestamps (plugin-barman-cloud v0.13.0, internal/cnpgi/instance/metrics.go), CloudNativePG's
`pg_stat_archiver` query (config/manager/default-monitoring.yaml at v1.30.0), with the labels the Prometheus
Operator's PodMonitor adds (`namespace`, `pod`). Runbooks are sections of docs/backup-and-restore.md.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from components.metadata.backups import LAST_ARCHIVE_FAILURE, LAST_ARCHIVED, LAST_BACKUP, LAST_FAILED_BACKUP
from tests.support.promtool import AlertCase, Series, alerts_of, check_rules, plan_rule_groups, run_rule_tests
from tests.support.system import require

RUNBOOKS = Path(__file__).resolve().parents[2] / "docs" / "backup-and-restore.md"
METADATA = 'namespace="dp-metadata"'
INSTANCE = f'{METADATA}, pod="metadata-1", job="dp-metadata/metadata-postgresql"'
CLUSTER_LABELS = {"namespace": "dp-metadata", "cluster": "metadata"}


def _series(metric: str, values: str, labels: str = INSTANCE) -> Series:
    return Series(f"{metric}{{{labels}}}", values)


LATE_SUMMARY = ("PostgreSQL cluster metadata in dp-metadata has no base backup from the last 26 h (schedule: daily), "
                "or no series says when its last one was.")

CASES = [
    # ---- PostgresBackupLate: the newest base backup is older than a day plus two hours
    AlertCase("base backup 29 h old", "PostgresBackupLate",
              (_series(LAST_BACKUP, "3600+0x1800"),), "30h",
              ({"exp_labels": {**CLUSTER_LABELS, "severity": "warning"},
                "exp_annotations": {"summary": LATE_SUMMARY,
                                    "runbook_url": "docs/backup-and-restore.md#postgresbackuplate"}},)),
    # promtool's clock starts at the Unix epoch: 0 is "older than 26 h" only past 26 h (in a cluster, at once).
    AlertCase("no base backup ever (the plugin answers 0)", "PostgresBackupLate",
              (_series(LAST_BACKUP, "0+0x1800"),), "30h",
              ({"exp_labels": {**CLUSTER_LABELS, "severity": "warning"},
                "exp_annotations": {"summary": LATE_SUMMARY,
                                    "runbook_url": "docs/backup-and-restore.md#postgresbackuplate"}},)),
    AlertCase("no series tells (plugin not loaded)", "PostgresBackupLate",
              (_series("up", "1+0x180"),), "3h",
              ({"exp_labels": {**CLUSTER_LABELS, "severity": "warning"},
                "exp_annotations": {"summary": LATE_SUMMARY,
                                    "runbook_url": "docs/backup-and-restore.md#postgresbackuplate"}},)),
    AlertCase("a base backup every day at 01:00", "PostgresBackupLate",
              (_series(LAST_BACKUP, "3600+0x1439 90000+0x1439 176400+0x300"),), "50h"),
    AlertCase("the first base backup arrives within the hour", "PostgresBackupLate",
              (_series(LAST_BACKUP, "0+0x30 1800+0x120"),), "2h"),
    # ---- PostgresBackupFailed: the newest attempt failed
    AlertCase("the newest attempt failed", "PostgresBackupFailed",
              (_series(LAST_BACKUP, "3600+0x180"), _series(LAST_FAILED_BACKUP, "7200+0x180")), "3h",
              ({"exp_labels": {**CLUSTER_LABELS, "severity": "warning"},
                "exp_annotations": {
                    "summary": "The newest base backup of PostgreSQL cluster metadata in dp-metadata failed.",
                    "runbook_url": "docs/backup-and-restore.md#postgresbackupfailed"}},)),
    AlertCase("a failure followed by a success", "PostgresBackupFailed",
              (_series(LAST_BACKUP, "7200+0x180"), _series(LAST_FAILED_BACKUP, "3600+0x180")), "3h"),
    AlertCase("never failed (the plugin answers 0)", "PostgresBackupFailed",
              (_series(LAST_BACKUP, "3600+0x180"), _series(LAST_FAILED_BACKUP, "0+0x180")), "3h"),
    # ---- PostgresWalArchivingFailing: PostgreSQL's newest archive attempt failed
    AlertCase("archive_command keeps failing", "PostgresWalArchivingFailing",
              (_series(LAST_ARCHIVED, "300+0x60"), _series(LAST_ARCHIVE_FAILURE, "600+0x60")), "50m",
              ({"exp_labels": {**CLUSTER_LABELS, "pod": "metadata-1", "severity": "critical"},
                "exp_annotations": {
                    "summary": "WAL archiving of PostgreSQL cluster metadata fails on metadata-1 in dp-metadata: "
                               "nothing written since the last archived segment can be restored.",
                    "runbook_url": "docs/backup-and-restore.md#postgreswalarchivingfailing"}},)),
    AlertCase("a failed segment archived on retry", "PostgresWalArchivingFailing",
              (_series(LAST_ARCHIVED, "600+0x60"), _series(LAST_ARCHIVE_FAILURE, "300+0x60")), "50m"),
    AlertCase("never failed (PostgreSQL's -1)", "PostgresWalArchivingFailing",
              (_series(LAST_ARCHIVED, "600+0x60"), _series(LAST_ARCHIVE_FAILURE, "-1+0x60")), "50m"),
]


def backup_alerts(groups: list[dict]) -> dict[str, dict]:
    return {name: rule for name, rule in alerts_of(groups).items()
            if rule["annotations"]["runbook_url"].startswith("docs/backup-and-restore.md#")}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_alert_rule_of_the_plan_passes_promtool_check(stack, stack_recording):
    require("promtool")
    result = check_rules(plan_rule_groups(stack_recording(stack)))
    assert result.ok, result.output


def test_backup_alerts_fire_when_they_should_and_only_then(dev):
    require("promtool")
    result = run_rule_tests(plan_rule_groups(dev), CASES)
    assert result.ok, result.output


@pytest.mark.parametrize("mutant", ["vector(1) > 1", "vector(1)"], ids=["never fires", "always fires"])
def test_the_cases_catch_an_alert_that_never_or_always_fires(mutant, dev):
    """The cases are not vacuous: with each backup alert's expression replaced by one that never fires (its firing
    cases must fail) or always fires (its silent cases must fail), promtool fails for every one of them."""
    require("promtool")
    groups = plan_rule_groups(dev)
    alerts = backup_alerts(groups)
    mutated = [{**group, "rules": [{**rule, "expr": mutant} if rule.get("alert") in alerts else rule
                                   for rule in group["rules"]]} for group in groups]
    result = run_rule_tests(mutated, CASES)
    assert not result.ok
    assert set(re.findall(r"alertname: (\w+)", result.output)) == set(alerts), result.output


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_backup_alert_has_a_firing_and_a_silent_case(stack, stack_recording):
    alerts = backup_alerts(plan_rule_groups(stack_recording(stack)))
    for alert in alerts:
        kinds = {case.fires for case in CASES if case.alert == alert}
        assert kinds == {True, False}, f"{alert}: needs a firing and a silent case (has {kinds or 'none'})"


def test_dev_alerts_on_its_database_backups_and_prod_leaves_rds_to_aws(dev, prod):
    assert set(backup_alerts(plan_rule_groups(dev))) >= {
        "PostgresBackupLate", "PostgresBackupFailed", "PostgresWalArchivingFailing"}
    assert not {"PostgresBackupLate", "PostgresWalArchivingFailing"} & set(backup_alerts(plan_rule_groups(prod)))


def _anchors(markdown: str) -> set[str]:
    """The anchors of a Markdown file's headings, as rendered on a repository host (code blocks skipped)."""
    anchors, fenced = set(), False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif line.startswith("#") and not fenced:
            anchors.add(re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-"))
    return anchors


def test_each_backup_alert_has_its_runbook_section(dev, prod):
    anchors = _anchors(RUNBOOKS.read_text())
    for groups in (plan_rule_groups(dev), plan_rule_groups(prod)):
        for name, rule in backup_alerts(groups).items():
            assert rule["annotations"]["runbook_url"].split("#", 1)[1] in anchors, f"{name}: no runbook section"
