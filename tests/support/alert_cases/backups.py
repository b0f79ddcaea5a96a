"""Cases of the database backup alerts (components/metadata/backups.py): the Barman Cloud plugin's backup timestamps
(plugin-barman-cloud v0.13.0, internal/cnpgi/instance/metrics.go) and CloudNativePG's `pg_stat_archiver` query
(config/manager/default-monitoring.yaml at v1.30.0), with the labels the Prometheus Operator's PodMonitor adds
(`namespace`, `pod`, `job`). Runbooks are sections of docs/backup-and-restore.md."""

from __future__ import annotations

from components.metadata.backups import LAST_ARCHIVE_FAILURE, LAST_ARCHIVED, LAST_BACKUP, LAST_FAILED_BACKUP
from tests.support.promtool import AlertCase, Series

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
