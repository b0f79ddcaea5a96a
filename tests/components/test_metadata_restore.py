"""The metadata database's restore procedures, generated from the plan (infra/ops/postgres_restore.py) and held to
it: the CloudNativePG recovery Cluster reads the archive the plan's ObjectStore writes and passes the Cluster CRD
the pinned chart ships; the RDS point-in-time restore gives the restored instance every setting the plan gives the
running one, in a request that the RDS API definition accepts. The restore drill's archive layout is the plan's."""

from __future__ import annotations

import io
import json

import pytest
import yaml
from botocore.exceptions import ParamValidationError

from components.metadata.backups import PLUGIN
from infra.model.charts import CHARTS
from infra.offline.render.cache import default_cache, lookup
from infra.offline.render.crds import CrdIndex, ShippedCrd
from infra.offline.render.helm import render_chart
from infra.offline.render.planfile import Plan
from infra.ops import postgres_restore
from tests.components import test_metadata_restore_drill as drill

CNPG_CHART = "cloudnative-pg"


@pytest.fixture(scope="module")
def dev_plan(stack_recording) -> dict:
    return Plan.of_recording(stack_recording("dev")).document


@pytest.fixture(scope="module")
def prod_plan(stack_recording) -> dict:
    return Plan.of_recording(stack_recording("prod")).document


def one(plan: dict, type_: str) -> dict:
    (found,) = [resource for resource in plan["resources"] if resource["type"] == type_]
    return found


def backups_bucket(plan: dict) -> str:
    (bucket,) = [resource["inputs"]["bucket"] for resource in plan["resources"]
                 if resource["type"] == "minio:index/s3Bucket:S3Bucket" and resource["inputs"]["bucket"].endswith(
                     "-backups")]
    return bucket


def test_the_recovery_cluster_reads_the_archive_the_plan_writes_and_archives_apart(dev_plan):
    manifest = postgres_restore.cnpg_recovery_manifest(dev_plan, "metadata-restored")
    cluster = one(dev_plan, postgres_restore.CLUSTER_TYPE)["inputs"]
    store = one(dev_plan, postgres_restore.OBJECT_STORE_TYPE)["inputs"]
    assert manifest["metadata"] == {"name": "metadata-restored", "namespace": cluster["metadata"]["namespace"]}
    spec = manifest["spec"]
    (origin,) = spec["externalClusters"]
    assert spec["bootstrap"] == {"recovery": {"source": origin["name"]}}
    # The archive the running cluster writes: the plan's ObjectStore, the Cluster's name as the server name (no
    # serverName parameter on the archiver: the plugin's default), in the lake's backups bucket.
    (archiver,) = cluster["spec"]["plugins"]
    assert "serverName" not in archiver["parameters"]
    assert origin["plugin"] == {"name": archiver["name"], "parameters": {
        "barmanObjectName": store["metadata"]["name"], "serverName": cluster["metadata"]["name"]}}
    assert store["spec"]["configuration"]["destinationPath"].startswith(f"s3://{backups_bucket(dev_plan)}/")
    # The new cluster archives through the same ObjectStore, under its own name: never into the source's archive.
    assert spec["plugins"] == [{"name": PLUGIN, "isWALArchiver": True, "parameters": {
        "barmanObjectName": store["metadata"]["name"], "serverName": "metadata-restored"}}]
    for key in ("imageName", "postgresql", "storage", "resources"):
        assert spec[key] == cluster["spec"][key]
    assert spec["instances"] == 1


def test_a_point_in_time_becomes_the_recovery_target(dev_plan):
    manifest = postgres_restore.cnpg_recovery_manifest(dev_plan, "metadata-restored", at="2026-12-01T09:30:00Z")
    assert manifest["spec"]["bootstrap"]["recovery"]["recoveryTarget"] == {"targetTime": "2026-12-01T09:30:00+00:00"}
    with pytest.raises(postgres_restore.InputError, match="no time zone"):
        postgres_restore.cnpg_recovery_manifest(dev_plan, "metadata-restored", at="2026-12-01T09:30:00")
    with pytest.raises(postgres_restore.InputError, match="must differ"):
        postgres_restore.cnpg_recovery_manifest(dev_plan, "metadata")


def test_the_drill_uses_the_archive_layout_the_plan_declares(dev_plan):
    store = one(dev_plan, postgres_restore.OBJECT_STORE_TYPE)["inputs"]["spec"]["configuration"]
    cluster = one(dev_plan, postgres_restore.CLUSTER_TYPE)["inputs"]
    assert store["destinationPath"] == drill.DESTINATION
    assert cluster["metadata"]["name"] == drill.CLUSTER_NAME
    assert {store["wal"]["compression"], store["data"]["compression"]} == {drill.COMPRESSION}


@pytest.fixture(scope="module")
def cluster_crd() -> CrdIndex:
    pin = CHARTS[CNPG_CHART]
    cached = lookup(default_cache(), pin.chart, pin.version)
    if cached is None:
        pytest.skip(f"chart {pin.chart} {pin.version} is not in the chart cache {default_cache()} "
                    "(make chart-cache): the Cluster CRD it ships is unknown here")
    rendered = render_chart(cached.path, {}, pin.chart, "default")
    assert rendered.render_error is None, rendered.render_error
    crds = [item.document for item in [*rendered.crds, *rendered.objects] if item.kind == "CustomResourceDefinition"]
    (definition,) = [crd for crd in crds if crd["spec"]["names"]["kind"] == "Cluster"]
    return CrdIndex([ShippedCrd(pin.chart, pin.version, None, definition)])


def test_the_recovery_cluster_passes_the_cluster_crd_of_the_pinned_chart(dev_plan, cluster_crd):
    for at in (None, "2026-12-01T09:30:00Z"):
        manifest = postgres_restore.cnpg_recovery_manifest(dev_plan, "metadata-restored", at=at)
        verdict = cluster_crd.validate(manifest)
        assert verdict.crd is not None and verdict.findings == []
    # The check bites: a field the CRD does not know is reported.
    broken = postgres_restore.cnpg_recovery_manifest(dev_plan, "metadata-restored")
    broken["spec"]["externalClusters"][0]["plugin"]["barmanObjectName"] = "misplaced"
    assert [finding.path for finding in cluster_crd.validate(broken).findings] == ["spec.externalClusters.0.plugin"]


def test_the_rds_restore_gives_the_restored_instance_the_plan_s_settings(prod_plan):
    resource = one(prod_plan, postgres_restore.RDS_TYPE)
    instance = resource["inputs"]
    (key,) = [found for found in prod_plan["resources"] if found["type"] == "aws:kms/key:Key"
              and found["name"] == "platform-metadata-key"]
    restore = postgres_restore.rds_restore(prod_plan, at="2026-12-01T09:30:00Z")
    request = restore.request
    assert (request["SourceDBInstanceIdentifier"], request["TargetDBInstanceIdentifier"]) == (
        "dataplatform-prod-metadata", "dataplatform-prod-metadata-pitr")
    assert request["RestoreTime"].isoformat() == "2026-12-01T09:30:00+00:00"
    parameters = one(prod_plan, "aws:rds/parameterGroup:ParameterGroup")["inputs"]
    subnets = one(prod_plan, "aws:rds/subnetGroup:SubnetGroup")["inputs"]
    assert request["DBParameterGroupName"] == parameters["name"] == instance["parameterGroupName"]
    assert request["DBSubnetGroupName"] == subnets["name"] == instance["dbSubnetGroupName"]
    assert request["VpcSecurityGroupIds"] == instance["vpcSecurityGroupIds"] == ["sg-0a1b2c3d4e5f6071a"]
    flags = ("MultiAZ", "PubliclyAccessible", "DeletionProtection", "EnableIAMDatabaseAuthentication",
             "CopyTagsToSnapshot")
    assert [request[flag] for flag in flags] == [True, False, True, True, True]
    assert request["BackupRetentionPeriod"] == restore.retention_days == 14
    assert request["EnableCloudwatchLogsExports"] == ["postgresql", "upgrade"]
    assert request["Tags"] == [{"Key": "dataplatform:role", "Value": "metadata"}]
    # The key: a point-in-time restore has no key parameter (the restored instance keeps the source's), so the
    # procedure checks it; it is the key the plan declares for the instance.
    assert restore.kms_key == instance["kmsKeyId"]
    assert key["urn"] in resource["dependencies"]
    # Pulumi adopts the restored instance under the plan's resource, parent and provider.
    assert (restore.instance_urn, restore.parent_urn, restore.provider_urn) == (
        resource["urn"], resource["parent"], resource["provider"])


def test_the_rds_request_is_checked_against_the_rds_api_definition(prod_plan):
    restore = postgres_restore.rds_restore(prod_plan)
    assert restore.request["UseLatestRestorableTime"] is True and "RestoreTime" not in restore.request
    import botocore.session
    from botocore.validate import validate_parameters

    shape = botocore.session.get_session().get_service_model("rds").operation_model(
        postgres_restore.RESTORE_OPERATION).input_shape
    # What cannot be asked of a point-in-time restore is refused: another key, for one.
    with pytest.raises(ParamValidationError, match="KmsKeyId"):
        validate_parameters({**restore.request, "KmsKeyId": restore.kms_key}, shape)
    command = restore.restore_command()
    for flag in ("--source-db-instance-identifier dataplatform-prod-metadata",
                 "--db-subnet-group-name dataplatform-prod-metadata-subnets",
                 "--vpc-security-group-ids sg-0a1b2c3d4e5f6071a",
                 "--db-parameter-group-name dataplatform-prod-metadata-pg15", "--multi-az", "--no-publicly-accessible",
                 "--enable-iam-database-authentication", "--deletion-protection", "--use-latest-restorable-time",
                 "--tags Key=dataplatform:role,Value=metadata"):
        assert flag in command, flag


def test_the_command_line_prints_each_stack_s_procedure(dev_plan, prod_plan, tmp_path):
    for stack, plan in (("dev", dev_plan), ("prod", prod_plan)):
        (tmp_path / f"{stack}.json").write_text(json.dumps(plan))
    out = io.StringIO()
    assert postgres_restore.main(["--stack", "dev", "--plan", str(tmp_path / "dev.json"), "--at",
                                  "2026-12-01T09:30:00Z"], out=out) == 0
    assert yaml.safe_load(out.getvalue()) == postgres_restore.cnpg_recovery_manifest(
        dev_plan, "metadata-restored", at="2026-12-01T09:30:00Z")
    out = io.StringIO()
    assert postgres_restore.main(["--stack", "prod", "--plan", str(tmp_path / "prod.json")], out=out) == 0
    lines = out.getvalue().splitlines()
    assert next(line for line in lines if line.startswith("# ")).startswith("# 1. The restorable window (14 days")
    assert postgres_restore.rds_restore(prod_plan).restore_command() in lines
    assert "pulumi import --yes --protect --generate-code=false aws:rds/instance:Instance platform-metadata-instance " \
           "dataplatform-prod-metadata --parent" in out.getvalue()
    assert postgres_restore.main(["--stack", "dev", "--plan", str(tmp_path / "missing.json")]) == 2
