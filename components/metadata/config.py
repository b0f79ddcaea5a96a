"""The metadata layer's section of the stack config (`dataplatform:metadata`): the PostgreSQL server.

A pure pydantic model: the stack config (infra/model/config.py) is composed of the sections, and the
component takes this one as it is."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from infra.model.errors import InputError, Problem
from infra.model.sections import (
    ABSOLUTE_PATH,
    EMAIL,
    Section,
    platform_images,
    repeated_names,
)


class RdsNetwork(Section):
    subnet_ids: list[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]] = Field(
        min_length=2, description="Private subnets in at least two availability zones, reachable from the cluster."
    )
    security_group_ids: list[Annotated[str, Field(pattern=r"^sg-[0-9a-f]{8,17}$")]] = Field(
        min_length=1, description="Security groups that admit PostgreSQL (5432) from the cluster's nodes only."
    )

    @model_validator(mode="after")
    def _distinct(self) -> RdsNetwork:
        problems = [Problem(key, f"lists {repeated} twice; give {least} different ones")
                    for key, ids, least in (("subnetIds", self.subnet_ids, "at least two"),
                                            ("securityGroupIds", self.security_group_ids, "only"))
                    for repeated in repeated_names(ids)]
        if problems:
            raise InputError(*problems)
        return self


class MetadataSettings(Section):
    backend: Literal["cloudnative-pg", "rds"] = Field(
        description="PostgreSQL server: `cloudnative-pg` (in the cluster) or `rds` (AWS)."
    )
    postgres_version: Literal["15"] = Field(default="15", description="PostgreSQL major version.")
    instances: Annotated[int, Field(ge=1, le=5)] = Field(
        default=1, description="CloudNativePG instances (1 primary + replicas)."
    )
    storage_gib: Annotated[int, Field(ge=1, le=16000)] = Field(description="Database volume size, GiB.")
    backup_retention_days: Annotated[int, Field(ge=1, le=35)] = Field(description="Days backups are kept.")
    instance_class: Annotated[str, Field(pattern=r"^db\.[a-z0-9-]+\.[a-z0-9]+$")] = Field(
        default="db.t4g.medium", description="RDS instance class (`rds` only)."
    )
    multi_az: bool = Field(default=True, description="RDS standby in a second availability zone (`rds` only).")
    deletion_protection: bool = Field(default=True, description="RDS deletion protection (`rds` only).")
    ca_bundle_file: Annotated[str, Field(pattern=ABSOLUTE_PATH)] | None = Field(
        default=None,
        description="`rds`: absolute path, on the deployer, of the RDS CA bundle the PostgreSQL provider verifies the "
        "server with (sslmode verify-full). Pods take the bundle from the migrations image instead "
        "(components.kit.images.RDS_CA_BUNDLE). `cloudnative-pg` uses the stack's CA file from the runtime.",
    )
    migrations_image: str = Field(
        default="migrations",
        description="Platform image (images/digests.lock.json) whose Python runs the migrations Job.",
    )
    event_emails: tuple[Annotated[str, Field(pattern=EMAIL)], ...] | None = Field(
        default=None,
        description="`rds`: the addresses RDS's events of the instance (backup, failure, failover, ...) are mailed to, "
        "through an encrypted SNS topic; each confirms its subscription from the first mail. Unset: every address "
        "of the `alerting` e-mail receivers. prod requires at least one (docs/backup-and-restore.md).",
    )
    network: RdsNetwork | None = Field(
        default=None,
        description="`rds`: where the instance lives (a subnet group of these subnets, these security groups); "
        "without it AWS would place the instance in the default VPC, out of the cluster's reach.",
    )

    @field_validator("event_emails")
    @classmethod
    def _distinct_emails(cls, emails: tuple[str, ...] | None) -> tuple[str, ...] | None:
        repeated = repeated_names(list(emails or ()))
        if repeated:
            raise ValueError(f"lists {', '.join(repeated)} twice; list each address once")
        return emails

    @field_validator("migrations_image")
    @classmethod
    def _platform_image(cls, name: str) -> str:
        images = platform_images()
        if name not in images:
            raise ValueError(f"must name a platform image of images/digests.lock.json: {', '.join(images)}")
        return name
