"""What the log layer writes into Elasticsearch, as plain request bodies: index templates, ILM policies, roles.

Pure functions, no resources: `components/logs/component.py` declares them and the golden tests pin them.

Indices are daily (`<family>-YYYY.MM.DD`, what Fluent Bit's `Logstash_Format` writes) and never roll over, so
each ILM policy counts its delete phase from the date in the index name (`index.lifecycle.parse_origination_date`)
rather than from a rollover: decision 0010.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

TEMPLATE_PRIORITY = 200  # above the built-in `logs-*-*` templates (100); our patterns do not overlap them
WRITER_ROLE = "log-writer"
READER_ROLE = "log-reader"
SHIPPER_USER = "log-shipper"
# The writer creates daily indices and appends documents; it never reads, updates or deletes.
WRITER_PRIVILEGES = ["create_doc", "create_index"]
READER_PRIVILEGES = ["read", "view_index_metadata"]
# The index families (daily indices `<family>-YYYY.MM.DD`) products ship to.
JOB_LOGS = "airbyte-logs"
DBT_RUNS = "dbt-runs"
AUDIT_TRAIL = "platform-audit"

# The seed's `airbyte-logs-*` mapping, field for field.
AIRBYTE_LOGS_FIELDS: dict[str, dict[str, str]] = {
    "timestamp": {"type": "date"},
    "level": {"type": "keyword"},
    "service": {"type": "keyword"},
    "message": {"type": "text"},
    "job_id": {"type": "keyword"},
    "connection_id": {"type": "keyword"},
    "records_synced": {"type": "integer"},
    "bytes_synced": {"type": "long"},
}
# One document per dbt node result, from dbt's JSON log events (`LogModelResult`).
DBT_RUNS_FIELDS: dict[str, dict[str, str]] = {
    "timestamp": {"type": "date"},
    "invocation_id": {"type": "keyword"},
    "node_id": {"type": "keyword"},
    "node_name": {"type": "keyword"},
    "status": {"type": "keyword"},
    "adapter_response": {"type": "keyword"},
    "execution_time": {"type": "double"},
    "message": {"type": "text"},
}
# One document per audited action, whatever the source (PostgreSQL's pgaudit, MinIO's audit webhook, ...).
AUDIT_FIELDS: dict[str, dict[str, str]] = {
    "timestamp": {"type": "date"},
    "source": {"type": "keyword"},
    "actor": {"type": "keyword"},
    "action": {"type": "keyword"},
    "class": {"type": "keyword"},
    "object": {"type": "keyword"},
    "database": {"type": "keyword"},
    "bucket": {"type": "keyword"},
    "statement": {"type": "text"},
    "status_code": {"type": "integer"},
    "remote_address": {"type": "keyword"},
}


@dataclass(frozen=True)
class IndexFamily:
    """Daily indices `<name>-YYYY.MM.DD` sharing one template and one lifecycle."""

    name: str
    description: str
    fields: dict[str, dict[str, str]]
    retention_days: int
    audit: bool = False

    @property
    def pattern(self) -> str:
        return f"{self.name}-*"


def families(job_log_days: int, audit_days: int) -> list[IndexFamily]:
    return [
        IndexFamily(JOB_LOGS, "Airbyte and dbt job logs (the seed's index).", AIRBYTE_LOGS_FIELDS,
                    job_log_days),
        IndexFamily(DBT_RUNS, "One document per dbt node result.", DBT_RUNS_FIELDS, job_log_days),
        IndexFamily(AUDIT_TRAIL, "The platform's audit trail: who did what, from every source.", AUDIT_FIELDS,
                    audit_days, audit=True),
    ]


def index_template(family: IndexFamily, replicas: int) -> dict[str, Any]:
    """The `_index_template` body, in the form Elasticsearch returns it (nested settings, string values), so that
    reading it back compares equal."""
    return {
        "index_patterns": [family.pattern],
        "composed_of": [],
        "priority": TEMPLATE_PRIORITY,
        "_meta": {"managed_by": "dataplatform", "description": family.description},
        "template": {
            "settings": {
                "index": {
                    "number_of_shards": "1",
                    "number_of_replicas": str(replicas),
                    "lifecycle": {"name": family.name, "parse_origination_date": "true"},
                }
            },
            # `dynamic: false` keeps an unexpected field in _source without indexing it, instead of refusing
            # the whole log line; the shipping tests check that no such field is sent.
            "mappings": {"dynamic": False, "properties": copy.deepcopy(family.fields)},
        },
    }


def ilm_policy(family: IndexFamily) -> dict[str, Any]:
    """Keep the index `retention_days` from the day in its name, then delete it. No rollover: indices are daily."""
    return {
        "phases": {
            "hot": {"min_age": "0ms", "actions": {}},
            "delete": {"min_age": f"{family.retention_days}d",
                       "actions": {"delete": {"delete_searchable_snapshot": True}}},
        },
        "_meta": {"managed_by": "dataplatform"},
    }


def _role(description: str, patterns: list[str], privileges: list[str], access: str | None = None) -> dict[str, Any]:
    """A role body; `access: read` marks a role the policy pack holds to read-only privileges."""
    metadata = {"managed_by": "dataplatform"}
    if access is not None:
        metadata["access"] = access
    return {
        "cluster": [],
        "indices": [{"names": patterns, "privileges": privileges, "allow_restricted_indices": False}],
        "applications": [],
        "run_as": [],
        "metadata": metadata,
        "description": description,
    }


def writer_role(all_families: list[IndexFamily]) -> dict[str, Any]:
    return _role("Log shipper: creates the platform's daily indices and appends documents to them.",
                 [family.pattern for family in all_families], WRITER_PRIVILEGES)


def reader_role(all_families: list[IndexFamily]) -> dict[str, Any]:
    return _role("Read-only access to the platform's log and audit indices.",
                 [family.pattern for family in all_families], READER_PRIVILEGES, access="read")




# ---- snapshots: one repository per lifecycle policy on the backups bucket ------------------------------------------
#
# Each SLM policy writes to a repository of its own (named after the policy, under `elasticsearch/<policy>` of the
# bucket), so that the exporter's per-repository series tell each policy's state (decision 0051).

# The one repository both policies wrote to before decision 0051, under `elasticsearch/` itself; kept registered
# read-only (`logs.snapshots.legacyRepository`) while its snapshots are still wanted for restores.
LEGACY_REPOSITORY = "platform-backups"
# The S3 client the repositories name: its settings are `s3.client.<name>.*` (node settings and keystore).
S3_CLIENT = "backups"
# Where in the backups bucket the snapshots go (the bucket is shared with the database's backups).
BASE_PATH = "elasticsearch"
AUDIT_SNAPSHOTS = "platform-audit-snapshots"
JOB_LOG_SNAPSHOTS = "job-log-snapshots"
POLICIES = (AUDIT_SNAPSHOTS, JOB_LOG_SNAPSHOTS)
# Snapshots kept whatever their age, so that snapshots failing for a while never leave the repository empty.
MIN_SNAPSHOTS = 7
SNAPSHOT_HOUR = 1  # the first snapshot of the day, UTC, before SLM's retention task (01:30 by default)


def repository(bucket: str, base_path: str, readonly: bool = False) -> dict[str, Any]:
    """The `_snapshot/<repository>` body: type `s3` on the backups bucket under `base_path`, through the `backups`
    S3 client. Every setting is a string, as the server answers them, so reading back compares equal."""
    settings = {"bucket": bucket, "base_path": base_path, "client": S3_CLIENT}
    if readonly:
        settings["readonly"] = "true"
    return {"type": "s3", "settings": settings}


def legacy_repository(bucket: str) -> dict[str, Any]:
    """`platform-backups` where it always was, read-only: its snapshots can be listed and restored, nothing writes
    to it or deletes from it (so it never races the per-policy repositories nested under its path)."""
    return repository(bucket, BASE_PATH, readonly=True)


def repository_of(policy_name: str) -> str:
    """The repository only the SLM policy `policy_name` writes to: named after it, so the exporter's `repository`
    label names the policy."""
    return policy_name


def snapshot_schedule(interval_hours: int) -> str:
    """SLM's cron (seconds, minutes, hours, day of month, month, day of week): daily at 01:00 UTC, or every
    `interval_hours` from midnight."""
    if interval_hours == 24:
        return f"0 0 {SNAPSHOT_HOUR} * * ?"
    return f"0 0 0/{interval_hours} * * ?"


def snapshots_per_day(interval_hours: int) -> int:
    return 24 // interval_hours


@dataclass(frozen=True)
class SnapshotPolicy:
    """One SLM policy: which index families it snapshots, how often, for how many days it keeps each snapshot, and
    the repository it alone writes to."""

    name: str
    families: tuple[IndexFamily, ...]
    keep_days: int
    interval_hours: int

    @property
    def patterns(self) -> list[str]:
        return [family.pattern for family in self.families]

    @property
    def audit(self) -> bool:
        return any(family.audit for family in self.families)

    @property
    def repository(self) -> str:
        return repository_of(self.name)

    @property
    def base_path(self) -> str:
        return f"{BASE_PATH}/{self.name}"

    @property
    def schedule(self) -> str:
        return snapshot_schedule(self.interval_hours)


def snapshot_policies(all_families: list[IndexFamily], audit_keep_days: int, job_log_keep_days: int,
                      interval_hours: int) -> list[SnapshotPolicy]:
    """The audit trail's snapshots, kept `audit_keep_days`; the job logs', kept `job_log_keep_days`; both every
    `interval_hours`."""
    return [
        SnapshotPolicy(AUDIT_SNAPSHOTS, tuple(family for family in all_families if family.audit), audit_keep_days,
                       interval_hours),
        SnapshotPolicy(JOB_LOG_SNAPSHOTS, tuple(family for family in all_families if not family.audit),
                       job_log_keep_days, interval_hours),
    ]


def policy_repository(policy: SnapshotPolicy, bucket: str) -> dict[str, Any]:
    """The policy's repository body: the backups bucket under `elasticsearch/<policy>`."""
    return repository(bucket, policy.base_path)


def slm_policy(policy: SnapshotPolicy) -> dict[str, Any]:
    """The `_slm/policy/<id>` body. Snapshots are named `<policy>-<date>-<suffix>` (date math, as the server
    resolves `<...{now/d}>`), go to the policy's own repository, hold the family's indices without the cluster state
    (the platform declares templates, policies and users itself), and are kept `keep_days`: `expire_after` deletes
    them then, `min_count` keeps the last few whatever their age, and `max_count` (which the specification requires)
    is above the number the schedule takes in `keep_days`, so it never deletes one sooner."""
    per_day = snapshots_per_day(policy.interval_hours)
    return {
        "name": f"<{policy.name}-{{now/d}}>",
        "schedule": policy.schedule,
        "repository": policy.repository,
        "config": {
            "indices": policy.patterns,
            "ignore_unavailable": False,
            "include_global_state": False,
            "partial": False,
            "metadata": {"managed_by": "dataplatform"},
        },
        "retention": {
            "expire_after": f"{policy.keep_days}d",
            "min_count": MIN_SNAPSHOTS,
            "max_count": per_day * (policy.keep_days + 1) + MIN_SNAPSHOTS,
        },
    }
