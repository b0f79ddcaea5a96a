"""Cases of the backup alerts: the database's, Dremio's and Elasticsearch's (the last with the log cluster's health,
whose red state fails every snapshot of it). The database's (components/metadata/backups.py): the Barman Cloud
plugin's backup timestamps (plugin-barman-cloud v0.13.0, internal/cnpgi/instance/metrics.go) and CloudNativePG's
`pg_stat_archiver` query (config/manager/default-monitoring.yaml at v1.30.0), with the labels the Prometheus
Operator's PodMonitor adds (`namespace`, `pod`, `job`). Runbooks are sections of docs/backup-and-restore.md"""

from __future__ import annotations

from components.logs.exporter import COLLECTOR_SUCCESS, HEALTH_STATUS, LATEST_SUCCESS, NEWEST_START
from components.metadata.backups import LAST_ARCHIVE_FAILURE, LAST_ARCHIVED, LAST_BACKUP, LAST_FAILED_BACKUP
from tests.support.promtool import AlertCase, Series, firing

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


# ---- Dremio's backup CronJob (components/lakehouse/spec.py backup_alert_rules): kube-state-metrics' CronJob and Job
# series (kubernetes/kube-state-metrics/docs/cronjob-metrics.md and its Job page), the objects' labels kept by the
# chart's `honorLabels`. Job names are the CronJob's with the scheduled minute, as the CronJob controller names them.
KSM = 'job="kube-state-metrics", instance="10.42.0.7:8080"'
DREMIO_CRONJOB = f'namespace="dp-lakehouse", cronjob="dremio-backup", {KSM}'
LAKEHOUSE = {"namespace": "dp-lakehouse"}


def _dremio_job(minute: int) -> str:
    return f'namespace="dp-lakehouse", job_name="dremio-backup-{29412000 + minute}", {KSM}'


def _late(summary_hours: str = "26") -> tuple[dict, ...]:
    return ({"exp_labels": {**LAKEHOUSE, "severity": "warning"},
             "exp_annotations": {"summary": f"Dremio's KV store in dp-lakehouse has no successful backup from the last "
                                            f"{summary_hours} h (CronJob dremio-backup).",
                                 "runbook_url": "docs/backup-and-restore.md#dremiobackuplate"}},)


FAILED = ({"exp_labels": {**LAKEHOUSE, "severity": "warning"},
           "exp_annotations": {"summary": "The newest Dremio backup Job in dp-lakehouse failed "
                                          "(CronJob dremio-backup); its log says why.",
                               "runbook_url": "docs/backup-and-restore.md#dremiobackupfailed"}},)

CASES += [
    # ---- DremioBackupLate: no success in a day plus two hours (daily schedule)
    AlertCase("Dremio's last backup 29 h old", "DremioBackupLate",
              (Series(f"kube_cronjob_created{{{DREMIO_CRONJOB}}}", "0+0x1800"),
               Series(f"kube_cronjob_status_last_successful_time{{{DREMIO_CRONJOB}}}", "3600+0x1800")), "30h",
              _late()),
    AlertCase("Dremio never backed up, CronJob a day old", "DremioBackupLate",
              (Series(f"kube_cronjob_created{{{DREMIO_CRONJOB}}}", "0+0x1800"),), "30h", _late()),
    AlertCase("Dremio backed up daily", "DremioBackupLate",
              (Series(f"kube_cronjob_created{{{DREMIO_CRONJOB}}}", "0+0x1800"),
               Series(f"kube_cronjob_status_last_successful_time{{{DREMIO_CRONJOB}}}",
                      "3600+0x1439 90000+0x360")), "30h"),
    AlertCase("Dremio's CronJob created 3 h ago, first run pending", "DremioBackupLate",
              (Series(f"kube_cronjob_created{{{DREMIO_CRONJOB}}}", "25200+0x600"),), "10h"),
    # ---- DremioBackupFailed: a Job failed after the last success
    AlertCase("Dremio's newest backup Job failed", "DremioBackupFailed",
              (Series(f"kube_cronjob_status_last_successful_time{{{DREMIO_CRONJOB}}}", "3600+0x180"),
               Series(f"kube_job_created{{{_dremio_job(60)}}}", "3600+0x180"),
               Series(f'kube_job_status_failed{{{_dremio_job(60)}}}', "0+0x180"),
               Series(f"kube_job_created{{{_dremio_job(120)}}}", "7200+0x180"),
               Series(f'kube_job_status_failed{{{_dremio_job(120)}, reason="BackoffLimitExceeded"}}', "1+0x180")),
              "3h", FAILED),
    AlertCase("Dremio's first backup Job failed", "DremioBackupFailed",
              (Series(f"kube_job_created{{{_dremio_job(60)}}}", "3600+0x180"),
               Series(f'kube_job_status_failed{{{_dremio_job(60)}, reason="DeadlineExceeded"}}', "1+0x180")),
              "3h", FAILED),
    AlertCase("a kept failed Dremio backup Job, then a success", "DremioBackupFailed",
              (Series(f"kube_cronjob_status_last_successful_time{{{DREMIO_CRONJOB}}}", "10800+0x240"),
               Series(f"kube_job_created{{{_dremio_job(60)}}}", "3600+0x240"),
               Series(f'kube_job_status_failed{{{_dremio_job(60)}, reason="BackoffLimitExceeded"}}', "1+0x240"),
               Series(f"kube_job_created{{{_dremio_job(180)}}}", "10800+0x240"),
               Series(f'kube_job_status_failed{{{_dremio_job(180)}}}', "0+0x240")), "4h"),
    AlertCase("a Dremio backup Job running after the last success", "DremioBackupFailed",
              (Series(f"kube_cronjob_status_last_successful_time{{{DREMIO_CRONJOB}}}", "3600+0x180"),
               Series(f"kube_job_created{{{_dremio_job(120)}}}", "7200+0x180"),
               Series(f'kube_job_status_failed{{{_dremio_job(120)}}}', "0+0x180")), "3h"),
]


# ---- Elasticsearch's snapshots (components/logs/exporter.py): the elasticsearch_exporter v1.11.0 snapshots collector
# (collector/snapshots.go: `repository`, and for the newest snapshot `state` and `version`), its per-collector
# `elasticsearch_scrape_success{collector}` (collector/collector.go) and cluster health (collector/cluster_health.go:
# `cluster`, `color`), with the labels the Prometheus Operator gives the exporter's ServiceMonitor targets.
EXPORTER = ('namespace="dp-logs", service="elasticsearch-exporter", job="elasticsearch-exporter", endpoint="http", '
            'pod="elasticsearch-exporter-7c9d5-xk2lq", instance="10.42.1.9:9108", container="exporter"')
AUDIT, JOBS = "platform-audit-snapshots", "job-log-snapshots"  # each SLM policy and its own repository
ES_RUNBOOKS = "docs/backup-and-restore.md"


def _labels(policy: str) -> dict[str, str]:
    return {"namespace": "dp-logs", "repository": policy, "cluster": "logs", "policy": policy}


def _late(policy: str) -> tuple:
    return firing("ElasticsearchSnapshotLate", ES_RUNBOOKS, _labels(policy),
                  f"Elasticsearch SLM policy {policy} in dp-logs has no successful snapshot in its repository "
                  f"{policy} from the last 26 h (it runs every 24 h), or no series says when its last one was.")


def _failed(policy: str) -> tuple:
    return firing("ElasticsearchSnapshotFailed", ES_RUNBOOKS, _labels(policy),
                  f"The newest snapshot of Elasticsearch SLM policy {policy} in dp-logs (repository {policy}) failed, "
                  "after its last successful one.")


def _latest(repository: str, values: str) -> Series:
    return Series(f'{LATEST_SUCCESS}{{repository="{repository}", {EXPORTER}}}', values)


def _newest(repository: str, state: str, values: str) -> Series:
    return Series(f'{NEWEST_START}{{repository="{repository}", {EXPORTER}, state="{state}", version="9.5.0"}}', values)


DAILY = "3600+0x1439 90000+0x1439 176400+0x300"  # a success every day at 01:00, for 50 h

CASES += [
    # ---- ElasticsearchSnapshotLate, per policy: no SUCCESS snapshot in its repository for a day plus two hours
    AlertCase("the audit policy's newest snapshot 29 h old, the job logs' fresh", "ElasticsearchSnapshotLate",
              (_latest(AUDIT, "3600+0x1800"), _latest(JOBS, "3600+0x1439 90000+0x400")), "30h", _late(AUDIT)),
    # The exporter answers 0 while the repository holds no successful snapshot.
    AlertCase("no job-log snapshot ever, its repository 30 h old, the audit policy's fresh",
              "ElasticsearchSnapshotLate",
              (_latest(JOBS, "0+0x1800"), _latest(AUDIT, "3600+0x1439 90000+0x400")), "30h", _late(JOBS)),
    AlertCase("no series tells of either policy's repository", "ElasticsearchSnapshotLate",
              (Series(f"up{{{EXPORTER}}}", "1+0x180"),), "3h", _late(AUDIT) + _late(JOBS)),
    AlertCase("both policies take a snapshot every day at 01:00", "ElasticsearchSnapshotLate",
              (_latest(AUDIT, DAILY), _latest(JOBS, DAILY)), "50h"),
    # The read-only repository an upgraded stack keeps for restores takes no snapshot: it is no policy's.
    AlertCase("both policies fresh, the legacy read-only repository's newest snapshot 50 h old",
              "ElasticsearchSnapshotLate",
              (_latest(AUDIT, DAILY), _latest(JOBS, DAILY), _latest("platform-backups", "0+0x3000")), "50h"),
    AlertCase("both repositories 3 h old, their first snapshots pending", "ElasticsearchSnapshotLate",
              (_latest(AUDIT, "0+0x180"), _latest(JOBS, "0+0x180")), "3h"),
    AlertCase("each policy's first snapshot 10 h ago, the repositories 30 h old", "ElasticsearchSnapshotLate",
              (_latest(AUDIT, "0+0x1199 72000+0x600"), _latest(JOBS, "0+0x1199 72000+0x600")), "30h"),
    # ---- ElasticsearchSnapshotFailed, per policy: its repository's newest snapshot FAILED, after its newest success
    AlertCase("the audit policy's newest snapshot failed while the job logs' succeeded", "ElasticsearchSnapshotFailed",
              (_latest(AUDIT, "3600+0x180"), _newest(AUDIT, "FAILED", "7200+0x180"),
               _latest(JOBS, "7200+0x180"), _newest(JOBS, "SUCCESS", "7200+0x180")), "3h", _failed(AUDIT)),
    AlertCase("the job-log policy's first snapshot ever failed, the audit policy's succeeded",
              "ElasticsearchSnapshotFailed",
              (_latest(JOBS, "0+0x180"), _newest(JOBS, "FAILED", "3600+0x180"),
               _latest(AUDIT, "3600+0x180"), _newest(AUDIT, "SUCCESS", "3600+0x180")), "3h", _failed(JOBS)),
    AlertCase("a failed Elasticsearch snapshot followed by a success", "ElasticsearchSnapshotFailed",
              (_latest(AUDIT, "7200+0x180"), _newest(AUDIT, "SUCCESS", "7200+0x180")), "3h"),
    AlertCase("an Elasticsearch snapshot in progress after a success", "ElasticsearchSnapshotFailed",
              (_latest(JOBS, "3600+0x180"), _newest(JOBS, "IN_PROGRESS", "7200+0x180")), "3h"),
    # ---- ElasticsearchSnapshotsUnreadable: the snapshots collector fails (for 15 minutes)
    AlertCase("the exporter cannot read the snapshot repositories", "ElasticsearchSnapshotsUnreadable",
              (Series(f'{COLLECTOR_SUCCESS}{{collector="snapshots", {EXPORTER}}}', "0+0x40"),
               Series(f'{COLLECTOR_SUCCESS}{{collector="cluster-info", {EXPORTER}}}', "0+0x40")), "40m",
              firing("ElasticsearchSnapshotsUnreadable", ES_RUNBOOKS,
                     {"namespace": "dp-logs", "job": "elasticsearch-exporter", "cluster": "logs"},
                     "The Elasticsearch exporter in dp-logs cannot read the snapshot repositories (cluster "
                     "unreachable, credentials refused or a privilege missing): the snapshot alerts cannot tell.")),
    AlertCase("the exporter reads the snapshot repositories", "ElasticsearchSnapshotsUnreadable",
              (Series(f'{COLLECTOR_SUCCESS}{{collector="snapshots", {EXPORTER}}}', "1+0x40"),), "40m"),
    AlertCase("another collector of the exporter fails", "ElasticsearchSnapshotsUnreadable",
              (Series(f'{COLLECTOR_SUCCESS}{{collector="snapshots", {EXPORTER}}}', "1+0x40"),
               Series(f'{COLLECTOR_SUCCESS}{{collector="cluster-info", {EXPORTER}}}', "0+0x40")), "40m"),
]


def _health(color: str, value: int) -> Series:
    return Series(f'{HEALTH_STATUS}{{cluster="logs", color="{color}", {EXPORTER}}}', f"{value}+0x30")


CASES += [
    # ---- ElasticsearchClusterRed: a primary shard unassigned, so writes and snapshots of its index fail
    AlertCase("the log cluster red", "ElasticsearchClusterRed",
              (_health("green", 0), _health("yellow", 0), _health("red", 1)), "20m",
              firing("ElasticsearchClusterRed", "docs/metadata-and-logs.md",
                     {"namespace": "dp-logs", "cluster": "logs"},
                     "Elasticsearch cluster logs in dp-logs is red: a primary shard is unassigned, so log and audit "
                     "writes to its index fail and so do snapshots of it.", "critical")),
    AlertCase("the log cluster yellow", "ElasticsearchClusterRed",
              (_health("green", 0), _health("yellow", 1), _health("red", 0)), "20m"),
]
