"""Where the metadata database's backups go: a bucket of the lake kept for them, written only by the `backups`
identity (CloudNativePG's base backups and WAL archives in dev; RDS keeps its own snapshots in prod)."""

from __future__ import annotations

from components.storage.access import ServiceBucket

BACKUP_BUCKET = ServiceBucket("backups", "backups", "Database backups (PostgreSQL base backups and WAL).")
