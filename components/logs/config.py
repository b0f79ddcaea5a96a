"""The logs layer's section of the stack config (`dataplatform:logs`): the Elasticsearch cluster.

A pure pydantic model: the stack config (infra/model/config.py) is composed of the sections, and the
component takes this one as it is."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from infra.model.errors import InputError, Problem
from infra.model.sections import (
    Section,
    elasticsearch_client_version,
    repeated_names,
)


class NodeSetSettings(Section):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,22}$")] = Field(description="Node set name.")
    count: Annotated[int, Field(ge=1, le=50)] = Field(description="Nodes in the set.")
    roles: list[Literal["master", "data", "ingest"]] = Field(min_length=1, description="Elasticsearch node roles.")
    storage_gib: Annotated[int, Field(ge=1, le=16000)] = Field(description="Data volume per node, GiB.")
    memory_gib: Annotated[int, Field(ge=1, le=64)] = Field(description="Memory per node, GiB (heap is half).")

    @field_validator("roles")
    @classmethod
    def _once_each(cls, roles: list[str]) -> list[str]:
        if len(set(roles)) != len(roles):
            raise ValueError("names a role twice; list each role once")
        return roles


class SnapshotSettings(Section):
    interval_hours: Literal[1, 2, 3, 4, 6, 8, 12, 24] = Field(
        default=24,
        description="Hours between two snapshots of the log and audit indices (24: daily at 01:00 UTC); the most "
        "log and audit data a lost cluster can lose.",
    )
    audit_days: Annotated[int, Field(ge=1, le=3650)] | None = Field(
        default=None,
        description="Days each audit snapshot is kept; None: `retention.auditDays`. Never fewer than that.",
    )
    job_log_days: Annotated[int, Field(ge=1, le=3650)] | None = Field(
        default=None,
        description="Days each job-log snapshot is kept; None: `logs.jobLogDays`. Never fewer than that.",
    )
    legacy_repository: bool = Field(
        default=False,
        description="Keep `platform-backups`, the one repository both policies wrote to before each got its own, "
        "registered read-only so that `make es-restore` still finds its snapshots: for a stack upgraded with "
        "snapshots there, until they are older than the snapshot retention (docs/upgrading.md).",
    )


class LogsSettings(Section):
    version: Annotated[str, Field(pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$")] = Field(
        default="9.5.0",
        description="Elasticsearch version ECK runs; its major must equal the pinned Python client's "
        "(docs/decisions/0009-elasticsearch-version.md).",
    )
    node_sets: list[NodeSetSettings] = Field(min_length=1, description="ECK node sets.")
    job_log_days: Annotated[int, Field(ge=1, le=3650)] = Field(
        description="Days job logs (`airbyte-logs-*`, `dbt-runs-*`) are kept; audit indices follow retention."
    )
    snapshots: SnapshotSettings = Field(
        default_factory=SnapshotSettings,
        description="Snapshots of the log and audit indices to the backups bucket (docs/backup-and-restore.md).",
    )
    security_audit: bool = Field(
        default=False,
        description="Elasticsearch's own security audit log; needs a platinum or enterprise licence.",
    )

    @model_validator(mode="after")
    def _client_matches(self) -> LogsSettings:
        problems = []
        client = elasticsearch_client_version()
        if client and self.version.split(".")[0] != client.split(".")[0]:
            problems.append(Problem(
                "version", f"a different major from the installed elasticsearch client {client}; pin both to the "
                "same major (docs/decisions/0009-elasticsearch-version.md)", self.version))
        masters = sum(node_set.count for node_set in self.node_sets if "master" in node_set.roles)
        if masters == 0 or masters % 2 == 0:
            problems.append(Problem("nodeSets", f"have {masters} master-eligible nodes; use an odd number (1 or 3)"))
        for name in repeated_names([node_set.name for node_set in self.node_sets]):
            problems.append(Problem("nodeSets", f"name `{name}` twice; node set names must be unique"))
        if not any("data" in node_set.roles for node_set in self.node_sets):
            problems.append(Problem("nodeSets", "have no `data` node; at least one node set needs the `data` role"))
        if self.snapshots.job_log_days is not None and self.snapshots.job_log_days < self.job_log_days:
            problems.append(Problem(
                "snapshots.jobLogDays", f"must be at least `logs.jobLogDays` ({self.job_log_days}): a job log is kept "
                "in its snapshots at least as long as in the cluster", self.snapshots.job_log_days))
        if not any("ingest" in node_set.roles for node_set in self.node_sets):
            problems.append(Problem("nodeSets", "have no `ingest` node; index templates and the log shipper need one"))
        if problems:
            raise InputError(*problems)
        return self

    @property
    def replicas(self) -> int:
        """Replicas of each index: one where there is a second data node to hold it, else none."""
        data_nodes = sum(node_set.count for node_set in self.node_sets if "data" in node_set.roles)
        return 1 if data_nodes > 1 else 0

    def snapshot_days(self, audit_days: int) -> tuple[int, int]:
        """Days the audit and the job-log snapshots are kept: the settings', else the indices' own retention."""
        snapshots = self.snapshots
        return (snapshots.audit_days if snapshots.audit_days is not None else audit_days,
                snapshots.job_log_days if snapshots.job_log_days is not None else self.job_log_days)
