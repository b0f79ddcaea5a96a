"""Bring a lake object, or every object under a prefix, back to what it was at a point in time, from S3 versions.

    python -m infra.ops.restore_objects --bucket BUCKET (--key KEY | --prefix PREFIX) --at 2026-12-01T09:30:00Z
        [--remove-newer] [--dry-run] [--json] [--endpoint-url URL] [--ca-bundle FILE]
    make restore-objects ARGS="--bucket ... --prefix ... --at ..."

For each key in scope it finds, among the key's versions and delete markers, the one that was current at `--at`:

- a version, and it is no longer current (overwritten, or deleted: a delete marker is current): that version is
  copied over the key, becoming its newest version (`restore`);
- a version that is still current: nothing to do (`unchanged`);
- nothing, or a delete marker (the key did not exist then) while it exists now: the key was created after `--at`.
  It is listed (`newer`) and left alone, or, with `--remove-newer`, deleted (`remove`).

A version with the same content as the one to restore (same ETag and size) counts as `unchanged`, so a second run
finds nothing to do; where the ETag is not the content's digest (SSE-KMS on S3) it copies the same content once
more, which is harmless. Nothing is erased: a restore adds a version and a removal adds a delete marker, so every
step is itself reversible with this tool (run it again with an `--at` from before the restore). `--dry-run` lists
the plan and changes nothing. The last line is a summary a person can read; `--json` prints one JSON document
instead (the plan, what was done, warnings).

How far back it reaches: a version superseded more than the bucket's noncurrent-version expiration ago is gone (the
storage layer sets it per bucket from the catalog's `lake.noncurrent_version_days`); the tool reads the bucket's
lifecycle rules and warns when `--at` lies beyond them. A current object that the bucket's own expiration removed
(the `logs` layer's `retention_days`) comes back as a version like any other, if still kept. Times in S3's listing
have one-second precision: a write within the same second as `--at` counts as before it, and of a version and a
delete marker of one key written within the same second, the delete marker counts as the later.

Credentials and region come from boto3's usual chain (environment, profile, instance role); `--endpoint-url` and
`--ca-bundle` point it at MinIO. Permissions needed: s3:ListBucketVersions (the listing), s3:GetBucketVersioning,
s3:GetLifecycleConfiguration, s3:GetObjectVersion (the source of a copy), s3:PutObject (the copy), s3:DeleteObject
(`--remove-newer`); on an SSE-KMS bucket also kms:Decrypt and kms:GenerateDataKey on the bucket's key. No
platform identity holds s3:ListBucketVersions: an operator's role runs this (docs/backup-and-restore.md).

Exit status: 0 when the plan was carried out (or listed, with `--dry-run`), 1 when a step failed, 2 for bad input
(a bucket without versioning, a time without a zone, an unknown bucket).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from infra.ops.inputs import InputError, parse_time

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2
# Objects up to this size are copied in one request (S3's limit for CopyObject); larger ones in parts.
SINGLE_COPY_BYTES = 5 * 1024**3


@dataclass(frozen=True)
class Entry:
    """One version or delete marker of a key, as S3 lists them (newest first)."""

    key: str
    version_id: str
    last_modified: datetime
    is_latest: bool
    deleted: bool
    size: int = 0
    etag: str = ""


@dataclass
class Step:
    key: str
    action: str
    """restore, unchanged, newer (left alone), remove."""
    version_at: str | None
    """The version current at the point in time (None: the key did not exist then)."""
    version_now: str | None
    """The current version (None: the key does not exist now)."""
    reason: str
    done: bool = False
    error: str | None = None


@dataclass
class Plan:
    bucket: str
    scope: str
    at: datetime
    steps: list[Step] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for step in self.steps if step.action == action)

    def failed(self) -> list[Step]:
        return [step for step in self.steps if step.error]

    def summary(self, dry_run: bool) -> str:
        restored = [step for step in self.steps if step.action == "restore"]
        undeleted = sum(1 for step in restored if step.version_now is None)
        verb = "would restore" if dry_run else "restored"
        parts = [f"{verb} {len(restored)} object{'s' if len(restored) != 1 else ''} "
                 f"({len(restored) - undeleted} overwritten, {undeleted} deleted)"]
        if self.count("remove"):
            parts.append(f"{'would remove' if dry_run else 'removed'} {self.count('remove')} created after it")
        if self.count("newer"):
            parts.append(f"left {self.count('newer')} created after it (--remove-newer removes them)")
        parts.append(f"{self.count('unchanged')} unchanged")
        if self.failed():
            parts.append(f"{len(self.failed())} FAILED")
        when = self.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"restore-objects: s3://{self.bucket}/{self.scope} at {when}: " + ", ".join(parts)

    def as_json(self, dry_run: bool) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "scope": self.scope,
            "at": self.at.astimezone(UTC).isoformat(),
            "dryRun": dry_run,
            "steps": [{key: value for key, value in asdict(step).items()} for step in self.steps],
            "counts": {action: self.count(action) for action in ("restore", "remove", "newer", "unchanged")},
            "failed": len(self.failed()),
            "warnings": self.warnings,
            "summary": self.summary(dry_run),
        }


def list_entries(client, bucket: str, prefix: str) -> dict[str, list[Entry]]:
    """Every version and delete marker under `prefix`, by key, newest first (S3's order)."""
    by_key: dict[str, list[Entry]] = {}
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        found = [(item, False) for item in page.get("Versions", [])] + [
            (item, True) for item in page.get("DeleteMarkers", [])]
        for item, deleted in found:
            by_key.setdefault(item["Key"], []).append(Entry(
                key=item["Key"], version_id=item["VersionId"], last_modified=item["LastModified"],
                is_latest=item["IsLatest"], deleted=deleted, size=int(item.get("Size", 0)),
                etag=str(item.get("ETag", ""))))
    for entries in by_key.values():
        # Versions and markers arrive in two lists with times to the second: one order, newest first; within a
        # second the current entry first, then a delete marker before a version (a delete just after a write).
        entries.sort(key=lambda entry: (entry.last_modified, entry.is_latest, entry.deleted), reverse=True)
    return by_key


def step_for(key: str, entries: list[Entry], at: datetime) -> Step:
    current = next((entry for entry in entries if entry.is_latest), entries[0])
    then = next((entry for entry in entries if entry.last_modified <= at), None)
    now_id = None if current.deleted else current.version_id
    if then is None or then.deleted:
        if now_id is None:
            return Step(key, "unchanged", None, None, "absent then and now")
        return Step(key, "newer", None, now_id, "created after the point in time")
    if then.version_id == current.version_id:
        return Step(key, "unchanged", then.version_id, now_id, "current then and now")
    if not current.deleted and then.etag and (then.etag, then.size) == (current.etag, current.size):
        return Step(key, "unchanged", then.version_id, now_id, "the current version has the same content")
    reason = "deleted since" if current.deleted else "overwritten since"
    return Step(key, "restore", then.version_id, now_id, reason)


def _code(error) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def noncurrent_days(client, bucket: str) -> int | None:
    """The shortest noncurrent-version expiration among the bucket's enabled lifecycle rules (None: none)."""
    from botocore.exceptions import ClientError

    try:
        rules = client.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", [])
    except ClientError as error:
        if _code(error) == "NoSuchLifecycleConfiguration":
            return None
        raise
    days = [rule["NoncurrentVersionExpiration"]["NoncurrentDays"] for rule in rules
            if rule.get("Status") == "Enabled" and "NoncurrentDays" in rule.get("NoncurrentVersionExpiration", {})]
    return min(days) if days else None


def plan(client, bucket: str, scope: str, exact: bool, at: datetime, remove_newer: bool,
         now: datetime | None = None) -> Plan:
    from botocore.exceptions import ClientError

    try:
        status = client.get_bucket_versioning(Bucket=bucket).get("Status")
    except ClientError as error:
        if _code(error) == "NoSuchBucket":
            raise InputError(f"bucket {bucket} does not exist") from None
        raise
    if status not in ("Enabled", "Suspended"):
        raise InputError(f"bucket {bucket} has never been versioned: there are no earlier versions to restore")
    result = Plan(bucket, scope, at)
    if status == "Suspended":
        result.warnings.append(f"versioning is suspended on {bucket}: writes since then replaced the null version "
                               "in place, and those states cannot be restored")
    days = noncurrent_days(client, bucket)
    now = now or datetime.now(UTC)
    if days is not None and at < now - timedelta(days=days):
        result.warnings.append(f"{bucket} expires noncurrent versions after {days} days: a version superseded "
                               f"before {(now - timedelta(days=days)).date()} is gone, so the state at that time "
                               "may be incomplete")
    entries = list_entries(client, bucket, scope)
    if exact:
        entries = {key: found for key, found in entries.items() if key == scope}
        if not entries:
            raise InputError(f"s3://{bucket}/{scope} has no version at all")
    for key in sorted(entries):
        step = step_for(key, entries[key], at)
        if step.action == "newer" and remove_newer:
            step.action = "remove"
        result.steps.append(step)
    return result


def carry_out(client, result: Plan, sizes: dict[tuple[str, str], int]) -> None:
    for step in result.steps:
        try:
            if step.action == "restore":
                source = {"Bucket": result.bucket, "Key": step.key, "VersionId": step.version_at}
                if sizes.get((step.key, step.version_at or ""), 0) <= SINGLE_COPY_BYTES:
                    client.copy_object(Bucket=result.bucket, Key=step.key, CopySource=source,
                                       MetadataDirective="COPY", TaggingDirective="COPY")
                else:
                    client.copy(source, result.bucket, step.key)
                step.done = True
            elif step.action == "remove":
                client.delete_object(Bucket=result.bucket, Key=step.key)
                step.done = True
        except Exception as error:  # one failed key must not stop the others; it is reported and fails the run
            step.error = f"{type(error).__name__}: {error}"


def make_client(endpoint_url: str | None, ca_bundle: str | None):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint_url, verify=ca_bundle if ca_bundle else None)


def run(client, bucket: str, scope: str, exact: bool, at: datetime, remove_newer: bool, dry_run: bool,
        as_json: bool, out=None) -> int:
    out = out or sys.stdout
    result = plan(client, bucket, scope, exact, at, remove_newer)
    if not dry_run:
        sizes = {(entry.key, entry.version_id): entry.size
                 for entries in list_entries(client, bucket, scope).values() for entry in entries}
        carry_out(client, result, sizes)
    if as_json:
        print(json.dumps(result.as_json(dry_run), indent=2, default=str), file=out)
    else:
        for warning in result.warnings:
            print(f"restore-objects: warning: {warning}", file=out)
        for step in result.steps:
            if step.action == "unchanged":
                continue
            source = f" <- version {step.version_at}" if step.version_at else ""
            outcome = f" FAILED: {step.error}" if step.error else ""
            print(f"  {step.action:<8} {step.key}{source} ({step.reason}){outcome}", file=out)
        print(result.summary(dry_run), file=out)
    return EXIT_FAILED if result.failed() else EXIT_OK


def main(argv: list[str] | None = None, client=None, out=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.ops.restore_objects", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bucket", required=True)
    scope = parser.add_mutually_exclusive_group(required=True)
    scope.add_argument("--key", help="one object")
    scope.add_argument("--prefix", help="every object whose key starts with it ('' for the whole bucket)")
    parser.add_argument("--at", required=True, help="the point in time, ISO 8601 with a zone (2026-12-01T09:30:00Z)")
    parser.add_argument("--remove-newer", action="store_true",
                        help="delete the objects created after --at (a delete marker: reversible); default: list them")
    parser.add_argument("--dry-run", action="store_true", help="list what would be done; change nothing")
    parser.add_argument("--json", action="store_true", help="one JSON document instead of lines")
    parser.add_argument("--endpoint-url", help="S3-compatible endpoint (MinIO), e.g. https://minio.example:9000")
    parser.add_argument("--ca-bundle", help="CA file that verifies the endpoint's certificate")
    args = parser.parse_args(argv)
    out = out or sys.stdout
    try:
        at = parse_time(args.at, "--at")
        client = client or make_client(args.endpoint_url, args.ca_bundle)
        exact = args.key is not None
        return run(client, args.bucket, args.key if exact else args.prefix, exact, at, args.remove_newer,
                   args.dry_run, args.json, out)
    except InputError as error:
        print(f"restore-objects: {error}", file=sys.stderr)
        return EXIT_INPUT


if __name__ == "__main__":
    sys.exit(main())
