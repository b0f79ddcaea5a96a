"""MetadataDatabase declares per stage the server the issue asks for (CloudNativePG with TLS, pgaudit and backups
through the Barman Cloud plugin; RDS hardened and protected), verified TLS to it, and a migrations Job named after
the migrations' hash."""

from __future__ import annotations

import json

import pytest

from components.kit.flows import Service
from components.metadata import flows as metadata_flows
from components.metadata.component import cloudwatch_retention, migrations_hash
from components.runtime import flows as runtime_flows
from infra.model.charts import CHARTS
from infra.model.config import parse_stack_config, project_values
from infra.model.stackfiles import load_stack
from infra.offline.harness import is_secret, unwrap_secret
from tests.support.recordings import TEST_CA_FILE, record_metadata
from tests.support.render import plan_of


@pytest.fixture(scope="module")
def dev():
    return record_metadata("dev")


@pytest.fixture(scope="module")
def prod():
    return record_metadata("prod")


def test_dev_runs_cloudnative_pg_with_tls_pgaudit_and_backups_to_the_lake(dev):
    cluster = dev.named("metadata-cluster")
    spec = cluster.inputs["spec"]
    assert spec["certificates"] == {"serverTLSSecret": "metadata-server-tls", "serverCASecret": "metadata-server-tls"}
    assert spec["postgresql"]["parameters"]["pgaudit.log"] == "ddl,role,write"
    assert spec["postgresql"]["pg_hba"] == ["hostnossl all all all reject"]
    # The operator's in-tree backups (removed in CloudNativePG 1.32) are gone; the plugin archives WAL.
    assert "backup" not in spec
    assert spec["plugins"] == [{"name": "barman-cloud.cloudnative-pg.io", "isWALArchiver": True,
                                "parameters": {"barmanObjectName": "metadata-backups"}}]
    store = dev.named("metadata-object-store")
    assert (store.input("apiVersion"), store.input("kind")) == ("barmancloud.cnpg.io/v1", "ObjectStore")
    assert store.input("metadata") == {"name": "metadata-backups", "namespace": "dp-metadata"}
    configuration = store.input("spec.configuration")
    # The path the in-tree backups wrote to: the plugin's server name is the cluster's name, as it was.
    assert configuration["destinationPath"] == "s3://dataplatform-dev-backups/metadata"
    assert "serverName" not in configuration
    assert configuration["endpointURL"] == "https://minio.dp-storage.svc.cluster.local:9000"
    assert configuration["s3Credentials"]["accessKeyId"] == {"name": "metadata-backups", "key": "ACCESS_KEY_ID"}
    assert (configuration["wal"], configuration["data"]) == ({"compression": "gzip"}, {"compression": "gzip"})
    assert store.input("spec.retentionPolicy") == "7d"
    sidecar = store.input("spec.instanceSidecarConfiguration.resources")
    assert set(sidecar) == {"requests", "limits"}
    credentials = dev.named("metadata-backup-credentials-secret")
    assert is_secret(credentials.inputs["stringData"])
    assert credentials.input("stringData") == {"ACCESS_KEY_ID": "backups-key", "ACCESS_SECRET_KEY": "backups-secret"}
    scheduled = dev.named("metadata-scheduled-backup")
    assert scheduled.input("spec.cluster.name") == "metadata"
    assert (scheduled.input("spec.method"), scheduled.input("spec.pluginConfiguration")) == (
        "plugin", {"name": "barman-cloud.cloudnative-pg.io"})
    # The first base backup is taken when the schedule is created, not at the next 02:00.
    assert scheduled.input("spec.immediate") is True


def secret_references(value, path=()):
    """Every Secret key selector ({name, key}) in an ObjectStore's configuration, with where it is."""
    if isinstance(value, dict):
        if set(value) == {"name", "key"}:
            yield ".".join(path), value["name"], value["key"]
            return
        for key, item in value.items():
            yield from secret_references(item, (*path, key))


@pytest.mark.parametrize("recorded", ["component", "stack"])
def test_every_secret_the_object_store_names_is_declared_in_its_namespace_with_that_key(dev, stack_recording,
                                                                                        recorded):
    """The sidecar reads the endpoint CA and the keys from Secrets of the ObjectStore's namespace: each one must
    be a Secret the program declares there (a ConfigMap of the same name does not do)."""
    recording = dev if recorded == "component" else stack_recording("dev")
    (store,) = recording.of_type("kubernetes:barmancloud.cnpg.io/v1:ObjectStore")
    namespace = store.input("metadata.namespace")
    secrets = {(secret.input("metadata.namespace"), secret.input("metadata.name")): secret
               for secret in recording.of_type("kubernetes:core/v1:Secret")}
    references = list(secret_references(store.input("spec.configuration")))
    assert {path for path, _, _ in references} == {
        "endpointCA", "s3Credentials.accessKeyId", "s3Credentials.secretAccessKey"}
    for path, name, key in references:
        secret = secrets.get((namespace, name))
        assert secret is not None, f"{path}: no Secret {namespace}/{name} is declared"
        assert key in (secret.input("stringData") or secret.input("data") or {}), f"{path}: {name} lacks {key}"
    ca = secrets[(namespace, "platform-ca-bundle")]
    assert unwrap_secret(ca.inputs["stringData"])["ca.crt"].startswith("-----BEGIN CERTIFICATE-----")


def test_the_plugin_runs_beside_the_operator_before_the_object_store_and_the_cluster(stack_recording):
    recording = stack_recording("dev")
    plugin = recording.named("platform-metadata-backup-plugin")
    operator = recording.named("platform-runtime-cloudnative-pg")
    assert plugin.input("chart") == "plugin-barman-cloud" and plugin.input("version") == CHARTS[
        "plugin-barman-cloud"].version
    # The operator looks for plugins in its own namespace.
    assert plugin.input("namespace") == operator.input("namespace") == "dp-system"
    values = plugin.input("values")
    assert values["crds"] == {"create": True}
    assert {values[key]["tag"].partition("@")[0] for key in ("image", "sidecarImage")} == {"v0.13.0"}
    plan = plan_of(recording)
    waits = {name: {plan.name_of(urn) for urn in plan.waits_for(recording.named(name).urn)}
             for name in ("platform-metadata-backup-plugin", "platform-metadata-object-store",
                          "platform-metadata-cluster", "platform-metadata-scheduled-backup")}
    assert {"platform-runtime-cert-manager", "platform-runtime-cloudnative-pg"} <= waits[
        "platform-metadata-backup-plugin"]
    assert "platform-metadata-backup-plugin" in waits["platform-metadata-object-store"]
    assert {"platform-metadata-backup-plugin", "platform-metadata-object-store"} <= waits["platform-metadata-cluster"]
    assert "platform-metadata-cluster" in waits["platform-metadata-scheduled-backup"]


def test_prod_on_rds_has_neither_plugin_nor_object_store(stack_recording):
    recording = stack_recording("prod")
    assert recording.of_type("kubernetes:barmancloud.cnpg.io/v1:ObjectStore") == []
    assert [release.input("chart") for release in recording.of_type("kubernetes:helm.sh/v3:Release")
            if release.input("chart") == "plugin-barman-cloud"] == []


def test_a_cluster_that_brings_its_operator_brings_the_plugin(dev):
    """Without the runtime's operator the component declares no plugin release (it would land away from the
    operator), but the backups still go through the plugin."""
    assert dev.of_type("kubernetes:helm.sh/v3:Release") == []
    assert set(dev.named("metadata-object-store").dependencies) == {
        dev.named("metadata-backup-credentials-secret").urn, dev.named("metadata-backup-ca-secret").urn}


@pytest.mark.parametrize("instances", [1, 2])
def test_the_flow_table_has_the_plugin_only_with_the_operator(instances):
    settings = parse_stack_config(project_values(load_stack("dev").config), "dev").metadata.model_copy(
        update={"instances": instances})
    without = metadata_flows.flow_table(settings)
    with_operator = metadata_flows.flow_table(settings, runtime_flows.CLOUDNATIVE_PG)
    assert metadata_flows.BACKUP_PLUGIN not in without.workloads
    assert metadata_flows.BACKUP_PLUGIN in with_operator.workloads
    plugin_flows = {(flow.client, flow.server, flow.port) for flow in with_operator.flows} - {
        (flow.client, flow.server, flow.port) for flow in without.flows}
    assert plugin_flows == {(metadata_flows.BACKUP_PLUGIN, Service("kubernetes-api"), None),
                            (runtime_flows.CLOUDNATIVE_PG, metadata_flows.BACKUP_PLUGIN, 9090)}
    (archive,) = [flow for flow in without.flows if flow.server == Service("object-store")]
    assert archive.client.name == "metadata-postgresql"


def test_prod_flow_table_has_no_plugin():
    settings = parse_stack_config(project_values(load_stack("prod").config), "prod").metadata
    table = metadata_flows.flow_table(settings, runtime_flows.CLOUDNATIVE_PG)
    assert [workload.name for workload in table.workloads] == ["metadata-migrations"]


def test_prod_rds_is_hardened_and_protected(prod):
    instance = prod.named("metadata-instance")
    expected = {"storageEncrypted": True, "publiclyAccessible": False, "iamDatabaseAuthenticationEnabled": True,
                "deletionProtection": True, "multiAz": True, "backupRetentionPeriod": 14.0,
                "skipFinalSnapshot": False, "finalSnapshotIdentifier": "dataplatform-prod-metadata-final",
                "deleteAutomatedBackups": False, "copyTagsToSnapshot": True,
                "enabledCloudwatchLogsExports": ["postgresql", "upgrade"]}
    assert {key: instance.input(key) for key in expected} == expected
    assert instance.input("kmsKeyId") == prod.named("metadata-key").outputs["arn"]
    assert instance.protect and prod.named("metadata-key").protect and prod.named("metadata-db-platform").protect
    parameters = {p["name"]: p["value"] for p in prod.named("metadata-parameters").input("parameters")}
    assert parameters["shared_preload_libraries"] == "pgaudit"
    assert (parameters["pgaudit.log"], parameters["rds.force_ssl"]) == ("ddl,role,write", "1")
    assert prod.named("metadata-log-group").input("retentionInDays") == 90.0


@pytest.mark.parametrize(("stack", "root_cert"), [("dev", TEST_CA_FILE),
                                                   ("prod", "/etc/dataplatform/rds-global-bundle.pem")])
def test_the_provider_verifies_the_server(stack, root_cert):
    provider = record_metadata(stack).named("metadata-postgresql")
    assert (provider.input("sslmode"), provider.input("sslrootcert")) == ("verify-full", root_cert)


def test_every_role_is_not_superuser_and_logins_have_secret_passwords(prod):
    roles = prod.of_type("postgresql:index/role:Role")
    assert {role.input("name") for role in roles} == {
        "ingestion", "transformation", "query_engine", "bi", "analyst", "data_engineer",
        "migrator", "airbyte", "dbt", "dremio", "superset"}
    for role in roles:
        assert role.input("superuser") is False and role.input("createRole") is False
        if role.input("login"):
            assert is_secret(role.inputs["password"])


def test_migrations_job_carries_the_hash_and_runs_the_same_folder(dev, tmp_path):
    job = dev.named("metadata-migrations-job")
    digest = migrations_hash()
    assert job.input("metadata.name") == f"metadata-migrations-{digest}"
    files = dev.named("metadata-migrations").input("data")
    assert sorted(files) == ["V001__airbyte_state.sql", "V002__dbt_run_history.sql", "V003__drop_airbyte_state.sql"]
    container = job.input("spec.template.spec.containers.0")
    assert container["command"] == ["python", "-m", "infra.migrations"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    (tmp_path / "V001__airbyte_state.sql").write_text("SELECT 1;")
    assert migrations_hash(tmp_path) != digest


def test_cloudwatch_retention_rounds_up_to_an_allowed_period():
    assert [cloudwatch_retention(days) for days in (30, 90, 91, 400)] == [30, 90, 120, 400]


def _shipped_crd(chart: str, kind: str):
    """The CRD of `kind` that the pinned `chart` ships, from the chart cache (skips where the cache lacks it)."""
    from infra.offline.render.cache import default_cache, lookup
    from infra.offline.render.crds import CrdIndex, ShippedCrd
    from infra.offline.render.helm import render_chart

    pin = CHARTS[chart]
    cached = lookup(default_cache(), pin.chart, pin.version)
    if cached is None:
        pytest.skip(f"chart {pin.chart} {pin.version} is not in the chart cache {default_cache()} (make chart-cache)")
    rendered = render_chart(cached.path, {}, pin.chart, "default")
    assert rendered.render_error is None, rendered.render_error
    (definition,) = [item.document for item in [*rendered.crds, *rendered.objects]
                     if item.kind == "CustomResourceDefinition" and item.document["spec"]["names"]["kind"] == kind]
    return CrdIndex([ShippedCrd(pin.chart, pin.version, None, definition)])


@pytest.fixture(scope="module")
def on_role():
    """The in-cluster server backing up to S3 through the `backups` role of its service account (IRSA)."""
    from components.metadata.component import BackupTarget, MetadataDatabase
    from components.platform import DATABASE_LOGINS
    from infra.model.catalog import load_catalog
    from infra.offline.harness import run_program
    from tests.support.recordings import cluster_context

    settings = load_stack("dev")
    config = parse_stack_config(project_values(settings.config), "dev")
    backups = BackupTarget("dataplatform-dev-backups", "https://s3.amazonaws.com", role_arn=ROLE_ARN)

    def program() -> None:
        MetadataDatabase("metadata", config.metadata, load_catalog(), cluster_context(), config.identity,
                         config.retention, logins=DATABASE_LOGINS, backups=backups)

    return run_program(program, settings)


ROLE_ARN = "arn:aws:iam::111122223333:role/dataplatform-dev-backups"


def test_backups_through_the_service_account_role_hold_no_key(on_role):
    """With a role, the ObjectStore inherits it (barman-cloud's boto3 takes the web identity the pod identity
    webhook injects) and the service account CloudNativePG creates for the Cluster names it; no key Secret exists."""
    store = on_role.named("metadata-object-store")
    assert store.input("spec.configuration.s3Credentials") == {"inheritFromIAMRole": True}
    assert not [secret for secret in on_role.of_type("kubernetes:core/v1:Secret")
                if secret.input("metadata.name") == "metadata-backups"]
    cluster = on_role.named("metadata-cluster")
    assert cluster.input("spec.serviceAccountTemplate") == {
        "metadata": {"annotations": {"eks.amazonaws.com/role-arn": ROLE_ARN}}}


def test_backups_through_the_role_pass_the_pinned_charts_crds(on_role):
    """The vendor's own schemas: the plugin's ObjectStore CRD takes `inheritFromIAMRole`, CloudNativePG's Cluster CRD
    takes `serviceAccountTemplate.metadata.annotations` (the CRDs the pinned charts ship)."""
    from components.metadata.backups import PLUGIN_CHART

    for chart, name, kind in ((PLUGIN_CHART, "metadata-object-store", "ObjectStore"),
                              ("cloudnative-pg", "metadata-cluster", "Cluster")):
        index = _shipped_crd(chart, kind)
        resource = on_role.named(name)
        # Numbers as the API server reads the manifest (the wire carries every number as a float).
        document = json.loads(json.dumps({"apiVersion": resource.input("apiVersion"), "kind": resource.input("kind"),
                                          "metadata": resource.input("metadata"), "spec": resource.input("spec")}),
                              parse_float=lambda text: int(float(text)) if float(text).is_integer() else float(text))
        verdict = index.validate(document)
        assert verdict.crd is not None and verdict.findings == [], (kind, verdict.findings)
        # The check bites: a misspelt field is reported.
        broken = json.loads(json.dumps(document))
        if kind == "ObjectStore":
            broken["spec"]["configuration"]["s3Credentials"] = {"inheritFromIamRole": True}
        else:
            broken["spec"]["serviceAccountTemplate"] = {"annotations": {}}
        assert index.validate(broken).findings, kind
