"""The platform's logs in the lake's `logs` layer, end to end: the rendered Fluent Bit configuration, run through the
shipper model with its `s3` output as out_s3 forms keys and bodies (fluent/fluent-bit@v5.1.1), uploaded with the
same headers to a real S3-compatible server (moto's, tests/support/s3.py) into a versioned bucket under a COMPLIANCE
object lock, and searched back by `logs_search` with DuckDB and its httpfs extension (.venv-logs) over that server.
The writer's and reader's policies are checked by parliament (a real IAM linter) and by moto's own IAM evaluation."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from components.logs import flows as logs_flows
from components.logs import lake, shipping
from components.platform import LOG_SOURCES, PREFIX_WRITERS, lake_logs
from components.storage.access import identities, prefix_policy_document, prefix_reader_document
from infra.model.catalog import load_catalog
from infra.model.naming import MINIO_AUDIT_TAG
from infra.offline.harness import is_secret
from tests.support import system
from tests.support.fluentbit import parse_sections, platform_shipper, s3_key
from tests.support.s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, S3Server

ROOT = Path(__file__).resolve().parents[2]
LOGS_PYTHON = ROOT / ".venv-logs" / "bin" / "python"
DEV = lake.target("dataplatform", "dev", "us-east-1", "minio.dp-storage.svc.cluster.local:9000")
PROD = lake.target("dataplatform", "prod", "eu-west-1", None)
DBT_POD = {"namespace_name": "dp-lakehouse", "pod_name": "batch-29512-x7k2p", "container_name": "dbt",
           "labels": {"app.kubernetes.io/name": "batch"}}
AIRBYTE_POD = {"namespace_name": "dp-ingestion", "pod_name": "replication-job-42-attempt-0",
               "container_name": "orchestrator", "labels": {"job_id": "42", "attempt_id": "0",
                                                            "connection_id": "8c1f"}}
# out_s3's options (plugins/out_s3/s3.c@v5.1.1 `config_map`) and the output instance's own (src/flb_output.c).
OUT_S3_OPTIONS = {
    "format", "json_date_format", "json_date_key", "total_file_size", "upload_chunk_size", "upload_timeout", "bucket",
    "region", "role_arn", "endpoint", "sts_endpoint", "canned_acl", "compression", "content_type", "store_dir",
    "store_dir_limit_size", "quarantine_dir_limit_size", "s3_key_format", "s3_key_format_tag_delimiters",
    "auto_retry_requests", "use_put_object", "send_content_md5", "preserve_data_ordering", "retry_exhausted_action",
    "log_key", "external_id", "static_file_path", "storage_class", "profile",
}
OUTPUT_INSTANCE_OPTIONS = {"name", "match", "match_regex", "retry_limit", "tls", "tls.verify", "tls.ca_file"}


def test_the_key_layout_is_the_catalogs_logs_layer():
    layer = load_catalog().lake.layer(lake.BUCKET_ROLE)
    assert (layer.format, layer.codec, list(layer.partitioning)) == ("json", "gzip", ["service", "date"])
    assert DEV.key_format == "/shipper/service=$TAG[0]/dt=%Y-%m-%d/%H%M%S-$UUID.json.gz"
    key = s3_key(DEV.key_format, datetime(2026, 12, 1, 23, 59, 58, tzinfo=UTC), "dbt.run")
    assert key.startswith("/shipper/service=dbt/dt=2026-12-01/235958-") and key.endswith(".json.gz")


def test_every_route_and_nothing_else_goes_to_the_lake_through_put_object_only():
    rendered = shipping.render(LOG_SOURCES, DEV)
    [output] = [section for section in parse_sections(rendered["outputs"]) if section.get("Name") == "s3"]
    unknown = {key.lower() for key, _ in output.entries} - OUT_S3_OPTIONS - OUTPUT_INSTANCE_OPTIONS
    assert not unknown, f"not out_s3 options at v5.1.1: {unknown}"
    routes = {route.tag for source in LOG_SOURCES for route in source.routes}
    assert all(output.matches(tag) for tag in routes)
    assert not any(output.matches(tag) for tag in ("kube.var.log.containers.x.log", "logmetrics.x", "dbt.freshness"))
    assert (output.get("use_put_object"), output.get("compression"), output.get("format")) == ("On", "gzip",
                                                                                               "json_lines")
    assert output.get("send_content_md5") == "On"  # S3 and MinIO refuse a PutObject under object lock without it
    assert output.get("bucket") == "dataplatform-dev-logs"
    assert output.get("endpoint") == "https://minio.dp-storage.svc.cluster.local:9000"
    assert output.get("tls.ca_file") == f"{shipping.TLS_DIR}/ca.crt"
    [prod] = [section for section in parse_sections(shipping.render(LOG_SOURCES, PROD)["outputs"])
              if section.get("Name") == "s3"]
    assert prod.get("endpoint") is None and prod.get("region") == "eu-west-1"  # S3's regional endpoint, public CAs
    assert "s3" not in shipping.render(LOG_SOURCES)["outputs"].split()  # no layer, no output


def test_a_tag_without_a_service_part_is_refused():
    broken = shipping.LogSource("broken", (shipping.Route("notag", "x", ("message",)),),
                                (shipping.allow(shipping.Route("notag", "x", ("message",))),))
    with pytest.raises(ValueError, match=r"<service>\.<kind>"):
        shipping.render([broken], DEV)
    with pytest.raises(ValueError, match="leading or trailing"):
        shipping.LakeLogs("b", "/shipper", "us-east-1")


def test_the_writer_may_only_put_under_its_prefix_and_nothing_else_touches_the_layer():
    writer = lake.LAKE_LOG_WRITER
    assert writer in PREFIX_WRITERS and writer.access == "put"
    document = json.loads(prefix_policy_document(writer, {"logs": "dataplatform-dev-logs"}))
    assert document["Statement"] == [{"Sid": "PutUnderOwnPrefix", "Effect": "Allow", "Action": ["s3:PutObject"],
                                      "Resource": ["arn:aws:s3:::dataplatform-dev-logs/shipper/*"]}]
    catalog = load_catalog()
    from components.platform import SERVICE_BUCKETS

    holders = [identity.name for identity in identities(catalog, SERVICE_BUCKETS) if identity.access("logs")]
    assert holders == [], f"identities with write (and delete) on the logs layer besides its writer: {holders}"


def test_policies_pass_parliament():
    import parliament

    for document in (prefix_policy_document(lake.LAKE_LOG_WRITER, {"logs": "dataplatform-dev-logs"}),
                     prefix_reader_document("dataplatform-dev-logs", "shipper")):
        findings = parliament.analyze_policy_string(document).findings
        assert [finding.issue for finding in findings] == [], document


def stack_config(stack: str):
    from infra.model.config import PROJECT, project_values
    from infra.model.inputs import validate_inputs
    from infra.model.stackfiles import load_stack

    settings = load_stack(stack)
    return validate_inputs(project_values(settings.config, PROJECT), stack, secret_keys=settings.secret_keys).config


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_shipper_reaches_the_object_store_and_sts_on_s3(stack):
    from components.platform import flow_tables

    config = stack_config(stack)
    assert lake_logs(config) is not None
    [logs] = [table for table in flow_tables(config, load_catalog()) if table.product == "logs"]
    shipper = logs_flows.FLUENT_BIT
    servers = {(getattr(flow.server, "name", None), flow.port) for flow in logs.flows if flow.client == shipper}
    assert ("object-store", None) in servers
    assert ((logs_flows.AWS_APIS.name, 443) in servers) == (stack == "prod")
    assert "object-store" not in {getattr(flow.server, "name", None)
                                  for flow in logs_flows.flow_table(config.logs).flows if flow.client == shipper}


def test_the_pods_get_the_writers_credentials_and_a_writable_buffer():
    dev, prod = lake.pod_values(DEV), lake.pod_values(PROD)
    assert dev["envFrom"] == prod["envFrom"] == [{"secretRef": {"name": lake.CREDENTIALS_SECRET}}]
    assert {"name": "lake-buffer", "mountPath": shipping.LAKE_STORE_DIR} in dev["volumeMounts"]
    assert dev["env"] == []
    assert prod["env"] == [{"name": "AWS_WEB_IDENTITY_TOKEN_FILE", "value": f"{lake.TOKEN_DIR}/{lake.TOKEN_FILE}"}]
    assert lake.secret_data({"access_key_id": "a", "secret_access_key": "b"}, None) == {
        "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
    assert lake.secret_data(None, "arn:aws:iam::1:role/r") == {"AWS_ROLE_ARN": "arn:aws:iam::1:role/r"}


def shipped_objects(bucket: str) -> list:
    """Sample logs of three services, through the platform's rendered pipeline, as out_s3 would upload them."""
    shipper = platform_shipper(shipping.LakeLogs(bucket, lake.PREFIX, REGION))
    airbyte = "2026-12-01 23:58:30 INFO replication-orchestrator > Source has no more messages"
    shipper.run("kube.a", datetime(2026, 12, 1, 23, 58, 30, tzinfo=UTC), {"log": airbyte, "kubernetes": AIRBYTE_POD})
    late = "2026-12-02 00:01:10 WARN replication-orchestrator > Destination write Timeout reached"
    shipper.run("kube.a", datetime(2026, 12, 2, 0, 1, 10, tzinfo=UTC), {"log": late, "kubernetes": AIRBYTE_POD})
    event = {"info": {"name": "MainReportVersion", "level": "info", "invocation_id": "inv-1",
                      "msg": "Running with dbt=1.11.16"}, "data": {}}
    shipper.run("kube.d", datetime(2026, 12, 2, 9, 0, 0, 250000, tzinfo=UTC),
                {"log": json.dumps(event), "kubernetes": DBT_POD})
    audit = {"time": "2026-12-02T10:15:02.123456789Z", "api": {"name": "DeleteObject", "bucket": "dev-bronze",
                                                               "object": "a.parquet", "statusCode": 204},
             "remotehost": "10.42.1.9", "accessKey": "ingestion"}
    shipper.run(MINIO_AUDIT_TAG, datetime(2026, 12, 2, 10, 15, 2, tzinfo=UTC), audit)
    return shipper.flush_s3()


def test_objects_are_gzip_json_lines_keyed_by_service_and_the_day_of_their_first_record():
    objects = {obj.key.split("/")[1]: obj for obj in shipped_objects("dataplatform-dev-logs")}
    assert sorted(objects) == ["service=airbyte", "service=dbt", "service=minio"]
    airbyte = objects["service=airbyte"]
    # Both Airbyte lines in one upload: the object lies under the day of its first record.
    assert airbyte.key.startswith("shipper/service=airbyte/dt=2026-12-01/235830-")
    assert airbyte.headers["Content-Encoding"] == "gzip" and "Content-MD5" in airbyte.headers
    assert [line["timestamp"] for line in airbyte.lines()] == ["2026-12-01T23:58:30.000000Z",
                                                               "2026-12-02T00:01:10.000000Z"]
    assert next(iter(airbyte.lines()[0])) == "timestamp"  # out_s3 writes the date key first
    assert objects["service=minio"].lines() == [{
        "timestamp": "2026-12-02T10:15:02.123456Z", "source": "minio", "class": "S3", "actor": "ingestion",
        "action": "DeleteObject", "bucket": "dev-bronze", "object": "a.parquet", "status_code": 204,
        "remote_address": "10.42.1.9"}]


@pytest.fixture(scope="module")
def lake_server():
    """moto's S3 with the logs bucket as the storage layer makes it (versioned, COMPLIANCE lock) and the shipped
    objects put with out_s3's headers."""
    with S3Server.start() as s3:
        client = s3.client()
        bucket = "dataplatform-dev-logs"
        client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        client.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}}})
        for obj in shipped_objects(bucket):
            client.put_object(Bucket=bucket, Key=obj.key, Body=obj.body,
                              ContentEncoding=obj.headers["Content-Encoding"], ContentMD5=obj.headers["Content-MD5"])
        # Not the shipper's: the search must not read outside its prefix.
        client.put_object(Bucket=bucket, Key="other/service=dbt/dt=2026-12-02/x.json.gz",
                          Body=gzip.compress(b'{"timestamp":"2026-12-02T09:00:00.000000Z","message":"x"}\n'))
        yield s3, bucket


def test_a_locked_object_cannot_be_deleted(lake_server):
    s3, bucket = lake_server
    client = s3.client()
    [version] = client.list_object_versions(Bucket=bucket, Prefix="shipper/service=minio/")["Versions"]
    with pytest.raises(ClientError):
        client.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])


def search(s3, bucket: str, *arguments: str) -> subprocess.CompletedProcess:
    if not LOGS_PYTHON.exists():
        message = f"{LOGS_PYTHON} is missing: run `make logs-setup`"
        if system.in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    environment = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY}
    return subprocess.run([str(LOGS_PYTHON), "-m", "infra.ops.logs_search", "--bucket", bucket, "--endpoint-url",
                           s3.endpoint, *arguments], capture_output=True, text=True, env=environment, cwd=ROOT,
                          timeout=120)


def test_search_finds_a_days_records_including_those_filed_under_the_day_before(lake_server):
    s3, bucket = lake_server
    result = search(s3, bucket, "--service", "airbyte", "--from", "2026-12-02", "--to", "2026-12-02")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == ("2026-12-02T00:01:10.000000Z airbyte "
                        "replication-orchestrator > Destination write Timeout reached")
    assert lines[-1].startswith("logs-search: 1 records of service airbyte between 2026-12-02T00:00:00+00:00")
    assert "from 2 objects" not in lines[-1] and "from 1 objects" in lines[-1]


def test_search_as_json_lines_with_a_match_across_services(lake_server):
    s3, bucket = lake_server
    result = search(s3, bucket, "--from", "2026-12-01T00:00:00Z", "--to", "2026-12-02T23:00:00Z", "--match",
                    "DELETEOBJECT", "--json")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(record["service"], record["action"]) for record in records] == [("minio", "DeleteObject")]
    assert "1 records of every service matching 'DELETEOBJECT'" in result.stderr
    everything = search(s3, bucket, "--from", "2026-12-01", "--to", "2026-12-02", "--json")
    assert [json.loads(line)["service"] for line in everything.stdout.splitlines()] == [
        "airbyte", "airbyte", "dbt", "minio"]  # oldest first; nothing from outside the prefix


def test_make_logs_search_resolves_the_stack_and_runs_in_its_own_virtualenv(lake_server):
    """What `make logs-search STACK=dev ...` runs: the project's virtualenv reads the stack file (its logs bucket is
    the fixture's) and starts the search in .venv-logs."""
    s3, bucket = lake_server
    assert bucket == lake_logs_target_bucket("dev")
    search(s3, bucket, "--help")  # skips or fails as the search does when .venv-logs is missing
    environment = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY}
    result = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "infra.ops.logs_search", "--stack", "dev",
                             "--service", "dbt", "--from", "2026-12-02", "--to", "2026-12-02", "--endpoint-url",
                             s3.endpoint], capture_output=True, text=True, env=environment, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "2026-12-02T09:00:00.250000Z dbt Running with dbt=1.11.16",
        "logs-search: 1 records of service dbt between 2026-12-02T00:00:00+00:00 and 2026-12-02T23:59:59.999999+00:00, "
        "from 1 objects under s3://dataplatform-dev-logs/shipper/"]


def test_search_refuses_bad_input_and_missing_credentials(lake_server):
    s3, bucket = lake_server
    assert search(s3, bucket, "--from", "2026-12-03", "--to", "2026-12-02").returncode == 2
    assert search(s3, bucket, "--from", "2026-12-02T10:00:00", "--to", "2026-12-02").returncode == 2
    result = subprocess.run([str(LOGS_PYTHON), "-m", "infra.ops.logs_search", "--bucket", bucket, "--from",
                             "2026-12-01", "--to", "2026-12-02"], capture_output=True, text=True, cwd=ROOT,
                            env={key: value for key, value in os.environ.items() if not key.startswith("AWS_")})
    assert result.returncode == 2 and "AWS_ACCESS_KEY_ID" in result.stderr


def test_the_stack_resolves_to_its_bucket_and_the_reader_policy():
    from infra.ops import logs_search

    resolved = logs_search.resolve("dev")
    assert resolved["bucket"] == lake_logs_target_bucket("dev")
    assert resolved["prefix"] == lake.PREFIX and resolved["retention_days"] == "90"
    result = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "infra.ops.logs_search", "--stack", "dev",
                             "--reader-policy"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    policy = json.loads(result.stdout)
    assert {action for statement in policy["Statement"] for action in statement["Action"]} == {
        "s3:ListBucket", "s3:GetObject"}


def lake_logs_target_bucket(stack: str) -> str:
    target = lake_logs(stack_config(stack))
    assert target is not None
    return target.bucket


def test_moto_enforces_the_writer_and_reader_policies():
    """moto's IAM evaluation (its own reading of AWS's) with our two documents attached to two users. What it does
    not evaluate (the `s3:prefix` condition on listing) is said where it would be checked."""
    with S3Server.start() as s3:
        admin = s3.client()
        admin.create_bucket(Bucket="logs-b")
        iam = boto3.client("iam", endpoint_url=s3.endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY_ID,
                           aws_secret_access_key=SECRET_ACCESS_KEY)
        keys = {}
        documents = {"writer": prefix_policy_document(lake.LAKE_LOG_WRITER, {"logs": "logs-b"}),
                     "reader": prefix_reader_document("logs-b", "shipper")}
        for name, document in documents.items():
            iam.create_user(UserName=name)
            iam.put_user_policy(UserName=name, PolicyName=name, PolicyDocument=document)
            keys[name] = iam.create_access_key(UserName=name)["AccessKey"]
        admin.put_object(Bucket="logs-b", Key="shipper/service=dbt/dt=2026-12-02/a.json.gz", Body=b"x")
        admin.put_object(Bucket="logs-b", Key="elsewhere/a", Body=b"x")

        def as_user(name: str):
            return boto3.client("s3", endpoint_url=s3.endpoint, region_name=REGION,
                                aws_access_key_id=keys[name]["AccessKeyId"],
                                aws_secret_access_key=keys[name]["SecretAccessKey"])

        def allowed(call) -> bool:
            try:
                call()
            except ClientError as error:
                assert error.response["Error"]["Code"] == "AccessDenied", error
                return False
            return True

        # From here on moto authenticates every request and evaluates the caller's policies.
        httpx.post(f"{s3.endpoint}/moto-api/reset-auth", content=b"0", timeout=10).raise_for_status()
        try:
            writer, reader = as_user("writer"), as_user("reader")
            key = "shipper/service=dbt/dt=2026-12-02/a.json.gz"
            assert allowed(lambda: writer.put_object(Bucket="logs-b", Key="shipper/service=dbt/dt=x/b", Body=b"y"))
            assert not allowed(lambda: writer.put_object(Bucket="logs-b", Key="elsewhere/b", Body=b"y"))
            assert not allowed(lambda: writer.get_object(Bucket="logs-b", Key=key))
            assert not allowed(lambda: writer.delete_object(Bucket="logs-b", Key=key))
            assert not allowed(lambda: writer.list_objects_v2(Bucket="logs-b", Prefix="shipper/"))
            assert allowed(lambda: reader.list_objects_v2(Bucket="logs-b", Prefix="shipper/service=dbt/"))
            assert allowed(lambda: reader.get_object(Bucket="logs-b", Key=key))
            assert not allowed(lambda: reader.get_object(Bucket="logs-b", Key="elsewhere/a"))
            # moto does not evaluate the `s3:prefix` condition of ListBucket (it lets this listing through), so the
            # reader's listing outside the prefix is not checked here; AWS and MinIO honour the condition.
            assert not allowed(lambda: reader.put_object(Bucket="logs-b", Key=key, Body=b"z"))
            assert not allowed(lambda: reader.delete_object(Bucket="logs-b", Key=key))
        finally:
            httpx.post(f"{s3.endpoint}/moto-api/reset-auth", content=b"inf", timeout=10).raise_for_status()


def test_the_plan_declares_the_writer_its_secret_and_the_output(dev, prod):
    """The whole program under mocks: the writer is a MinIO user with the put-only policy in dev and an IAM role only
    the shipper's service account assumes in prod; its credentials reach dp-logs as a secret; the shipper's release
    carries the s3 output for the stack's logs bucket."""
    name = lake.LAKE_LOG_WRITER.name
    (policy,) = [p for p in dev.of_type("minio:index/iamPolicy:IamPolicy")
                 if p.inputs["name"] == f"dataplatform-dev-{name}"]
    assert policy.inputs["policy"] == prefix_policy_document(lake.LAKE_LOG_WRITER, {"logs": "dataplatform-dev-logs"})
    (role,) = [r for r in prod.of_type("aws:iam/role:Role") if r.name.endswith(name)]
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]
    assert [value for key, value in trust.items() if key.endswith(":sub")] == [
        "system:serviceaccount:dp-logs:fluent-bit"]
    assert not [key for key in prod.of_type("aws:iam/accessKey:AccessKey") if name in key.name]
    for recording, stack in ((dev, "dev"), (prod, "prod")):
        (secret,) = [r for r in recording.of_type("kubernetes:core/v1:Secret")
                     if r.inputs["metadata"]["name"] == lake.CREDENTIALS_SECRET]
        assert secret.inputs["metadata"]["namespace"] == "dp-logs" and is_secret(secret.inputs["stringData"])
        (release,) = [r for r in recording.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "fluent-bit"]
        outputs = parse_sections(release.inputs["values"]["config"]["outputs"])
        (s3,) = [section for section in outputs if section.get("Name") == "s3"]
        assert s3.get("bucket") == f"dataplatform-{stack}-logs"
