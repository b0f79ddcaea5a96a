"""The lakehouse's section of the stack config (`dataplatform:lakehouse`): Dremio.

A pure pydantic model: the stack config (infra/model/config.py) is composed of the sections, and the
component takes this one as it is."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from infra.model.catalog import Schedule
from infra.model.sections import (
    QUERY_SECONDS_BUCKETS,
    Section,
)


class DremioBackupSettings(Section):
    """Dremio's own backup of its KV store (components/lakehouse/spec.py `backup_cronjob`)."""

    schedule: Schedule = Field(
        default=Schedule(every="1d"),
        description="When the backup CronJob asks the coordinator for a backup: `every: <N>h` or `1d` (with `at`, "
        "UTC). The recovery point is at most this interval.",
    )
    retention_days: Annotated[int, Field(ge=2, le=3650)] = Field(
        default=90,
        description="Days a backup is kept under `dremio/` in the backups bucket (the bucket's lifecycle expires "
        "it; versioning keeps it `lake.noncurrentVersionDays` longer). prod requires at least "
        "`retention.auditDays`: the grants and users a backup holds are part of the access record.",
    )

    @field_validator("schedule")
    @classmethod
    def _hourly_at_most(cls, schedule: Schedule) -> Schedule:
        if schedule.every == "continuous" or schedule.every.endswith("m"):
            raise ValueError(f"every '{schedule.every}': a Dremio backup copies the whole KV store and runs at most "
                             "hourly; write <N>h (dividing 24) or 1d")
        return schedule


class LakehouseSettings(Section):
    edition: Literal["community", "enterprise"] = Field(
        default="community",
        description="Dremio edition. `enterprise` (licensed) adds roles, grants and audit.json; a `community` "
        "stack has no access control inside Dremio, which the policy pack reports.",
    )
    version: Annotated[str, Field(pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$")] = Field(
        default="26.0.0", description="Dremio image tag (pinned; the same for coordinator and executors)."
    )
    size: Literal["small", "medium", "large"] = Field(
        description="Coordinator and executor sizing (components/lakehouse/component.py `SIZES`)."
    )
    executors: Annotated[int, Field(ge=1, le=50)] = Field(description="Executor replicas.")
    volume_gib: Annotated[int, Field(ge=10, le=10000)] = Field(description="Volume of each Dremio node, GiB.")
    slow_query_seconds: int = Field(
        default=30,
        description="Queries slower than this raise the slow-query alert; one of the query-duration histogram's "
        f"buckets ({', '.join(map(str, QUERY_SECONDS_BUCKETS))}).",
    )
    admin_user: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{2,31}$")] = Field(
        default="platform-admin", description="Name of Dremio's first administrator (its password is generated)."
    )
    backup: DremioBackupSettings = Field(
        default=DremioBackupSettings(), description="Dremio's scheduled backup of its KV store to the backups bucket."
    )

    @field_validator("slow_query_seconds")
    @classmethod
    def _a_bucket(cls, seconds: int) -> int:
        if seconds not in QUERY_SECONDS_BUCKETS:
            allowed = ", ".join(map(str, QUERY_SECONDS_BUCKETS))
            raise ValueError(f"must be a bucket of the query-duration histogram: one of {allowed}")
        return seconds
