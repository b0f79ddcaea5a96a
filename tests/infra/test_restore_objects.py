"""infra/ops/restore_objects.py against moto's S3 server: versioned buckets with objects overwritten, deleted,
deleted and written again, and created after the point in time, under two prefixes; a dry run that changes nothing;
the removal of newer objects only when asked; the reach the bucket's lifecycle gives; the storage layer's settings
that the tool relies on, read from the plan."""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from infra.model.catalog import load_catalog
from infra.ops import restore_objects
from tests.support.s3 import S3Server

pytestmark = pytest.mark.integration

BEFORE = {
    "silver/orders/part-0.parquet": b"orders v1",       # unchanged
    "silver/orders/part-1.parquet": b"part-1 v1",       # overwritten after the point in time
    "silver/orders/part-2.parquet": b"part-2 v1",       # deleted after it
    "silver/orders/part-3.parquet": b"part-3 v1",       # overwritten, deleted, written again after it
    "silver/customers/part-0.parquet": b"customers v1",  # outside the prefix restored
    "silver/orders/_gone.parquet": b"gone",             # deleted before the point in time...
}
SCENARIO_BUCKETS = ("dry-run", "prefix", "remove-newer", "one-key", "twice")


def overwrite_and_delete(client, bucket: str) -> None:
    client.put_object(Bucket=bucket, Key="silver/orders/part-3.parquet", Body=b"part-3 v2")
    client.delete_object(Bucket=bucket, Key="silver/orders/part-3.parquet")


def after(client, bucket: str) -> None:
    client.put_object(Bucket=bucket, Key="silver/orders/part-1.parquet", Body=b"part-1 v2")
    client.delete_object(Bucket=bucket, Key="silver/orders/part-2.parquet")
    client.put_object(Bucket=bucket, Key="silver/orders/part-3.parquet", Body=b"part-3 v3")
    client.put_object(Bucket=bucket, Key="silver/orders/part-9.parquet", Body=b"created later")
    client.put_object(Bucket=bucket, Key="silver/customers/part-0.parquet", Body=b"customers v2")
    client.put_object(Bucket=bucket, Key="silver/orders/_gone.parquet", Body=b"...and written again after it")


@pytest.fixture(scope="module")
def lake():
    """Buckets that share one timeline: the objects of BEFORE, the point in time, then the changes of `after`.
    S3 lists times to the second, so a second and more separates each side from the point in time."""
    with S3Server.start() as s3:
        client = s3.client()
        for name in SCENARIO_BUCKETS:
            bucket = s3.versioned_bucket(f"lake-{name}")
            for key, body in BEFORE.items():
                client.put_object(Bucket=bucket, Key=key, Body=body)
            client.delete_object(Bucket=bucket, Key="silver/orders/_gone.parquet")
        time.sleep(1.1)
        point = datetime.now(UTC).replace(microsecond=0)
        time.sleep(1.1)
        for name in SCENARIO_BUCKETS:
            overwrite_and_delete(client, f"lake-{name}")
        # Written again a second later: of a version and a delete marker within one second, the tool takes the
        # marker as the later (the listing's order within a second is not kept).
        time.sleep(1.1)
        for name in SCENARIO_BUCKETS:
            after(client, f"lake-{name}")
        yield s3, client, point


def contents(client, bucket: str, prefix: str = "") -> dict[str, bytes]:
    listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {item["Key"]: client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read() for item in listed}


def versions(client, bucket: str) -> list[tuple[str, str, bool]]:
    listed = client.list_object_versions(Bucket=bucket)
    return sorted((item["Key"], item["VersionId"], item["IsLatest"])
                  for item in [*listed.get("Versions", []), *listed.get("DeleteMarkers", [])])


def restore(client, *arguments: str) -> tuple[int, str]:
    out = io.StringIO()
    status = restore_objects.main(list(arguments), client=client, out=out)
    return status, out.getvalue()


def test_a_dry_run_lists_the_plan_and_changes_nothing(lake):
    _, client, point = lake
    untouched = versions(client, "lake-dry-run")
    status, output = restore(client, "--bucket", "lake-dry-run", "--prefix", "silver/orders/", "--at",
                             point.isoformat(), "--dry-run")
    assert status == 0
    assert versions(client, "lake-dry-run") == untouched
    lines = output.splitlines()
    assert lines[-1] == (f"restore-objects: s3://lake-dry-run/silver/orders/ at {point:%Y-%m-%dT%H:%M:%SZ}: would "
                         "restore 3 objects (2 overwritten, 1 deleted), left 2 created after it (--remove-newer "
                         "removes them), 1 unchanged")
    actions = {line.split()[1]: line.split()[0] for line in lines[:-1]}
    assert actions == {"silver/orders/part-1.parquet": "restore", "silver/orders/part-2.parquet": "restore",
                       "silver/orders/part-3.parquet": "restore", "silver/orders/part-9.parquet": "newer",
                       "silver/orders/_gone.parquet": "newer"}


def test_a_prefix_comes_back_as_it_was_and_nothing_outside_it_moves(lake):
    _, client, point = lake
    status, output = restore(client, "--bucket", "lake-prefix", "--prefix", "silver/orders/", "--at",
                             point.isoformat(), "--json")
    assert status == 0
    document = json.loads(output)
    assert document["counts"] == {"restore": 3, "remove": 0, "newer": 2, "unchanged": 1}
    assert document["failed"] == 0 and document["dryRun"] is False and document["warnings"] == []
    assert all(step["done"] for step in document["steps"] if step["action"] == "restore")
    assert contents(client, "lake-prefix", "silver/orders/") == {
        **{key: body for key, body in BEFORE.items() if key.startswith("silver/orders/part")},
        # Created after the point in time: listed, left in place without --remove-newer.
        "silver/orders/part-9.parquet": b"created later",
        "silver/orders/_gone.parquet": b"...and written again after it",
    }
    assert contents(client, "lake-prefix", "silver/customers/") == {"silver/customers/part-0.parquet": b"customers v2"}


def test_remove_newer_deletes_what_was_created_after_the_point_in_time_reversibly(lake):
    _, client, point = lake
    status, output = restore(client, "--bucket", "lake-remove-newer", "--prefix", "silver/orders/", "--at",
                             point.isoformat(), "--remove-newer")
    assert status == 0
    assert output.splitlines()[-1].endswith(
        "restored 3 objects (2 overwritten, 1 deleted), removed 2 created after it, 1 unchanged")
    expected = {key: body for key, body in BEFORE.items() if key.startswith("silver/orders/part")}
    assert contents(client, "lake-remove-newer", "silver/orders/") == expected
    # Removed with a delete marker: the version written after the point in time is still there.
    kept = client.list_object_versions(Bucket="lake-remove-newer", Prefix="silver/orders/part-9.parquet")
    assert [version["IsLatest"] for version in kept["Versions"]] == [False]


def test_one_key_restores_that_object_only(lake):
    _, client, point = lake
    status, output = restore(client, "--bucket", "lake-one-key", "--key", "silver/orders/part-3.parquet", "--at",
                             point.isoformat())
    assert status == 0, output
    found = contents(client, "lake-one-key", "silver/orders/")
    assert found["silver/orders/part-3.parquet"] == b"part-3 v1"
    assert found["silver/orders/part-1.parquet"] == b"part-1 v2"
    assert "silver/orders/part-2.parquet" not in found


def test_a_second_run_finds_nothing_to_do_and_an_earlier_point_undoes_the_restore(lake):
    _, client, point = lake
    time.sleep(1.1)
    changed = datetime.now(UTC).replace(microsecond=0)
    state_changed = contents(client, "lake-twice")
    time.sleep(1.1)
    assert restore(client, "--bucket", "lake-twice", "--prefix", "", "--at", point.isoformat())[0] == 0
    status, output = restore(client, "--bucket", "lake-twice", "--prefix", "", "--at", point.isoformat())
    assert status == 0
    assert output.splitlines()[-1].endswith("restored 0 objects (0 overwritten, 0 deleted), left 2 created after "
                                            "it (--remove-newer removes them), 5 unchanged")
    # The restore only added versions: the state before it comes back the same way.
    status, output = restore(client, "--bucket", "lake-twice", "--prefix", "", "--at", changed.isoformat(),
                             "--remove-newer")
    assert status == 0, output
    assert contents(client, "lake-twice") == state_changed, output


def test_a_time_beyond_the_noncurrent_version_expiration_is_warned_about(lake):
    s3, client, point = lake
    bucket = s3.versioned_bucket("lake-lifecycle")
    client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"ID": "expire-noncurrent-versions", "Status": "Enabled", "Filter": {"Prefix": ""},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 30}}]})
    client.put_object(Bucket=bucket, Key="gold/mart.parquet", Body=b"now")
    status, output = restore(client, "--bucket", bucket, "--prefix", "gold/", "--at",
                             (point - timedelta(days=31)).isoformat(), "--json", "--dry-run")
    assert status == 0
    (warning,) = json.loads(output)["warnings"]
    assert warning.startswith("lake-lifecycle expires noncurrent versions after 30 days")
    status, output = restore(client, "--bucket", bucket, "--prefix", "gold/", "--at",
                             (point - timedelta(days=29)).isoformat(), "--json", "--dry-run")
    assert json.loads(output)["warnings"] == []


@pytest.mark.parametrize(("arguments", "message"), [
    (["--bucket", "lake-plain", "--prefix", "", "--at", "2026-12-01T00:00:00Z"], "has never been versioned"),
    (["--bucket", "lake-prefix", "--prefix", "", "--at", "2026-12-01T00:00:00"], "has no time zone"),
    (["--bucket", "no-such-bucket", "--prefix", "", "--at", "2026-12-01T00:00:00Z"], "does not exist"),
    (["--bucket", "lake-prefix", "--key", "silver/none", "--at", "2026-12-01T00:00:00Z"], "has no version at all"),
])
def test_bad_input_exits_2_and_says_why(lake, capsys, arguments, message):
    _, client, _ = lake
    client.create_bucket(Bucket="lake-plain")
    assert restore(client, *arguments)[0] == restore_objects.EXIT_INPUT
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_bucket_of_the_plan_keeps_versions_as_long_as_the_catalog_says(stack, stack_recording):
    """What the tool's reach rests on: versioning on every bucket and noncurrent versions kept
    `lake.noncurrent_version_days` (the tool's warning reads the same rule from the bucket)."""
    recording = stack_recording(stack)
    days = load_catalog().lake.noncurrent_version_days
    if stack == "prod":
        buckets = {bucket.input("bucket") for bucket in recording.of_type("aws:s3/bucket:Bucket")}
        versioned = {version.input("bucket")
                     for version in recording.of_type("aws:s3/bucketVersioning:BucketVersioning")
                     if version.input("versioningConfiguration.status") == "Enabled"}
        kept = {}
        for lifecycle in recording.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"):
            for rule in lifecycle.input("rules"):
                if rule["id"] == "expire-noncurrent-versions":
                    kept[lifecycle.input("bucket")] = rule["noncurrentVersionExpiration"]["noncurrentDays"]
    else:
        buckets = {bucket.input("bucket") for bucket in recording.of_type("minio:index/s3Bucket:S3Bucket")}
        versioned = {version.input("bucket") for version in recording.of_type(
            "minio:index/s3BucketVersioning:S3BucketVersioning")
            if version.input("versioningConfiguration.status") == "Enabled"}
        kept = {}
        for lifecycle in recording.of_type("minio:index/ilmPolicy:IlmPolicy"):
            for rule in lifecycle.input("rules"):
                if rule["id"] == "expire-noncurrent-versions":
                    kept[lifecycle.input("bucket")] = rule["noncurrentVersionExpirationDays"]
    assert buckets and versioned == buckets
    assert kept == dict.fromkeys(buckets, days)
