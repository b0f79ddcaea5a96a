"""Lakehouse declares Dremio's hardened workloads, its configuration, the batch and alerts per stack, with
secrets only in secret inputs, grants only where the edition has them, and workloads pinned by golden files."""

from __future__ import annotations

import json

import pytest
import yaml

from components.kit.images import image_references
from components.lakehouse import batch, spec
from components.presentation import spec as presentation_spec
from infra.model.catalog import load_catalog
from infra.model.config import parse_stack_config, project_values
from infra.model.errors import ConfigError
from infra.model.schedules import kubernetes_cron
from infra.model.stackfiles import load_stack
from infra.offline.harness import SECRET_SENTINEL_PREFIX, is_secret, run_program, unwrap_secret
from tests.support.golden import check_golden
from tests.support.lakehouse import lakehouse_program, shape, stack_config

DYNAMIC = "pulumi-python:dynamic/dremio:"
CATALOG = load_catalog()


@pytest.fixture(scope="module")
def dev():
    return run_program(lakehouse_program("dev"), load_stack("dev"))


@pytest.fixture(scope="module")
def prod():
    return run_program(lakehouse_program("prod"), load_stack("prod"))


def named(recording, kind: str, name: str):
    (found,) = [item for item in recording.of_type(kind) if item.inputs["metadata"]["name"] == name]
    return found


def names(recording, kind: str) -> list[str]:
    return sorted(resource.name for resource in recording.of_type(DYNAMIC + kind))


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_workloads_match_golden(stack: str) -> None:
    rendered = yaml.safe_dump({"dremio.conf": spec.dremio_conf(shape(stack)), "workloads": spec.workloads(shape(stack)),
                               "certificate": spec.certificate("ISSUER")}, sort_keys=True, width=120)
    check_golden(f"lakehouse/{stack}.yaml", rendered)


def test_configuration_inventory_per_edition(dev, prod):
    for recording in (dev, prod):
        assert names(recording, "FirstAdmin") == ["lakehouse-admin"]
        assert names(recording, "User") == ["lakehouse-user-dbt", "lakehouse-user-superset"]
        edition = "enterprise" if recording is prod else "community"
        assert {user.inputs["edition"] for user in recording.of_type(DYNAMIC + "User")} == {edition}, \
            "each user deletes through its edition's endpoint"
        assert names(recording, "Source") == ["lakehouse-source-lake", "lakehouse-source-lake-write",
                                              "lakehouse-source-metadata"]
        assert names(recording, "Space") == ["lakehouse-space-bronze", "lakehouse-space-gold",
                                             "lakehouse-space-silver"]
    assert names(dev, "Grants") == [] and names(dev, "Role") == [], "Community has no grants"
    assert names(prod, "Role") == ["lakehouse-role-analyst", "lakehouse-role-data-engineer"]
    assert names(prod, "Grants") == ["lakehouse-grants-bronze", "lakehouse-grants-gold", "lakehouse-grants-lake",
                                     "lakehouse-grants-lake-write", "lakehouse-grants-silver"]


def test_grants_follow_the_catalog_least_privilege(prod):
    grants = {resource.inputs["path"][0]: resource.inputs["grants"] for resource in prod.of_type(DYNAMIC + "Grants")}
    analyst = [grant for grants_ in grants.values() for grant in grants_ if grant["name"] == "analyst"]
    assert [(grant["privileges"]) for grant in analyst] == [list(spec.SPACE_READ)]
    assert {grant["name"] for grant in grants["bronze"]} == {"dbt", "data_engineer"}
    assert {grant["name"] for grant in grants["gold"]} == {"dbt", "superset", "analyst"}


def test_sources_verify_tls_and_the_lakes_split_read_and_write(dev, prod):
    for recording, compat in ((dev, True), (prod, False)):
        sources = {r.inputs["entity"]["name"]: r.inputs["entity"] for r in recording.of_type(DYNAMIC + "Source")}
        assert sources["lake"]["config"]["secure"] is True
        assert sources["lake"]["config"]["compatibilityMode"] is compat
        stack = recording.stack
        assert sources["lake"]["config"]["whitelistedBuckets"] == sorted(
            f"dataplatform-{stack}-{layer}" for layer in ("bronze", "silver", "gold"))
        assert sources["lake_write"]["config"]["whitelistedBuckets"] == sorted(
            f"dataplatform-{stack}-{layer}" for layer in ("silver", "gold"))
        assert sources["lake"]["config"]["accessKey"] == "query-engine-key"
        assert sources["lake_write"]["config"]["accessKey"] == "transformation-key"
        assert sources["lake"]["metadataPolicy"]["autoPromoteDatasets"] is True
        assert sources["metadata"]["config"]["useSsl"] is True
        assert sources["metadata"]["config"]["encryptionValidationMode"] == "CERTIFICATE_AND_HOSTNAME_VALIDATION"


def test_secrets_only_travel_in_secret_inputs(dev, prod):
    for recording in (dev, prod):
        for resource in recording.resources:
            if resource.type.startswith("random:"):
                continue
            plain = json.dumps({key: value for key, value in resource.inputs.items() if not is_secret(value)})
            assert SECRET_SENTINEL_PREFIX not in plain, resource.name
            if resource.type.startswith(DYNAMIC):
                assert is_secret(resource.inputs["connection"]), resource.name
                assert "connection" in resource.additional_secret_outputs


def test_services_stay_inside_the_cluster_and_pods_are_restricted(dev):
    for service in dev.of_type("kubernetes:core/v1:Service"):
        assert service.inputs["spec"]["type"] == "ClusterIP"
    for statefulset in dev.of_type("kubernetes:apps/v1:StatefulSet"):
        pod = statefulset.inputs["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"] + pod["initContainers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_web_and_flight_serve_tls_from_the_keystore(dev):
    config_map = named(dev, "kubernetes:core/v1:ConfigMap", spec.CONFIG_MAP)
    conf = config_map.inputs["data"]["dremio.conf"]
    for prefix in ("coordinator.web", "flight"):
        assert f"services.{prefix}.ssl.enabled: true" in conf
        assert f"services.{prefix}.ssl.auto-certificate.enabled: false" in conf
    assert "${?DREMIO_KEYSTORE_PASSWORD}" in conf, "the keystore password comes from the environment"
    (store,) = [s for s in dev.of_type("kubernetes:core/v1:Secret") if s.inputs["metadata"]["name"] == "dremio-store"]
    assert is_secret(store.inputs["stringData"])
    assert "<name>fs.s3a.endpoint</name><value>minio.dp-storage.svc.cluster.local:9000" in \
        unwrap_secret(store.inputs["stringData"])["core-site.xml"]


def batch_pod(recording) -> dict:
    cronjob = named(recording, "kubernetes:batch/v1:CronJob", batch.BATCH)
    return cronjob.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def environment_of(container: dict) -> dict[str, dict]:
    return {item["name"]: item for item in container["env"]}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_batch_runs_its_steps_in_order_on_the_catalog_schedule(stack, dev, prod):
    recording = {"dev": dev, "prod": prod}[stack]
    cronjob = named(recording, "kubernetes:batch/v1:CronJob", batch.BATCH)
    job = cronjob.inputs["spec"]
    assert job["schedule"] == kubernetes_cron(CATALOG.transformations.schedule) == "0 * * * *"
    assert (job["concurrencyPolicy"], job["jobTemplate"]["spec"]["backoffLimit"]) == ("Forbid", 0)
    assert job["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 3600
    pod = batch_pod(recording)
    # Init containers run one after another and the first failure ends the pod: each step starts only once the
    # one before it exited 0; the dashboards are the pod's container, the last step.
    rds = ["rds-ca"] if stack == "prod" else []
    assert [c["name"] for c in pod["initContainers"]] == [*rds, "syncs", "dbt", "reflections"]
    assert [c["name"] for c in pod["containers"]] == ["dashboards"]
    assert [c["name"] for c in [*pod["initContainers"], *pod["containers"]] if c["name"] != "rds-ca"] == list(
        batch.STEPS)
    assert pod["automountServiceAccountToken"] is False and pod["securityContext"]["runAsNonRoot"] is True
    for container in [*pod["initContainers"], *pod["containers"]]:
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        if container["name"] != "rds-ca":
            assert container["image"] == image_references()["dbt-runner"]


def test_each_step_runs_the_repository_script_from_the_configmap(dev):
    pod = batch_pod(dev)
    scripts = named(dev, "kubernetes:core/v1:ConfigMap", batch.SCRIPTS_CONFIG_MAP)
    for container in pod["initContainers"]:
        file = batch.SCRIPT_FILES[container["name"]]
        assert container["command"] == ["python", f"{batch.SCRIPTS_DIR}/{file}"]
        assert scripts.inputs["data"][file] == (batch.SCRIPT_SOURCES / file).read_text()
        assert {"name": "scripts", "mountPath": batch.SCRIPTS_DIR, "readOnly": True} in container["volumeMounts"]
    (dashboards,) = pod["containers"]
    assert dashboards["command"] == ["python", batch.IMPORT_SCRIPT]


def test_the_syncs_step_runs_the_connections_of_the_sources_the_marts_read(dev):
    (syncs,) = [c for c in batch_pod(dev)["initContainers"] if c["name"] == "syncs"]
    environment = environment_of(syncs)
    assert environment["BATCH_CONNECTIONS"]["value"] == "postgres-to-bronze"
    assert environment["AIRBYTE_URL"]["value"] == "https://airbyte-api.dp-ingestion.svc.cluster.local:8443"
    assert environment["AIRBYTE_CA_FILE"]["value"] == "/etc/dataplatform/ca/ca.crt"
    for name, key in (("AIRBYTE_CLIENT_ID", "airbyte-client-id"), ("AIRBYTE_CLIENT_SECRET", "airbyte-client-secret")):
        assert environment[name]["valueFrom"]["secretKeyRef"] == {"name": batch.SECRET, "key": key}
    assert int(environment["TIMEOUT_SECONDS"]["value"]) < 3600


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_dbt_step_builds_on_dremio_and_records_the_run_over_verified_tls(stack, dev, prod):
    recording = {"dev": dev, "prod": prod}[stack]
    (dbt,) = [c for c in batch_pod(recording)["initContainers"] if c["name"] == "dbt"]
    environment = environment_of(dbt)
    assert environment["DBT_TARGET"]["value"] == "dremio"
    assert environment["DBT_DREMIO_LAKE_SOURCE"]["value"] == "lake_write"
    assert environment["DBT_DREMIO_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": batch.RUNNER_SECRET,
                                                                               "key": "password"}
    assert environment["RUN_HISTORY_DATABASE"]["value"] == "platform"
    assert environment["RUN_HISTORY_HOST"]["value"] == "metadata-rw.dp-metadata.svc.cluster.local"
    root = "/etc/dataplatform/db-ca/rds-ca.pem" if stack == "prod" else "/etc/dataplatform/ca/ca.crt"
    assert environment["RUN_HISTORY_SSLROOTCERT"]["value"] == root
    assert environment["RUN_HISTORY_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": batch.SECRET, "key": batch.RUN_HISTORY_PASSWORD_KEY}
    assert environment["DBT_PROJECT_NAME"]["value"] == CATALOG.transformations.project
    secret = named(recording, "kubernetes:core/v1:Secret", batch.SECRET)
    assert is_secret(secret.inputs["stringData"])
    data = unwrap_secret(secret.inputs["stringData"])
    assert data[batch.RUN_HISTORY_USER_KEY] == "dbt"
    assert sorted(data) == sorted([batch.AIRBYTE_CLIENT_ID_KEY, batch.AIRBYTE_CLIENT_SECRET_KEY,
                                   batch.RUN_HISTORY_USER_KEY, batch.RUN_HISTORY_PASSWORD_KEY])


def test_the_reflections_step_refreshes_the_tables_under_each_mart_at_the_catalog_interval(dev):
    (step,) = [c for c in batch_pod(dev)["initContainers"] if c["name"] == "reflections"]
    anchors = json.loads(environment_of(step)["REFLECTION_ANCHORS"]["value"])
    silver = ["lake_write", "dataplatform-dev-silver"]
    assert anchors == {
        "customers": {"refreshPeriodMs": 3_600_000, "datasets": [[*silver, "int_orders_validated"],
                                                                 [*silver, "stg_postgres__customers"]]},
        "daily_revenue": {"refreshPeriodMs": 3_600_000, "datasets": [[*silver, "int_orders_validated"]]},
    }
    assert environment_of(step)["DREMIO_USERNAME"]["value"] == "dbt"


def test_the_dashboards_step_imports_the_bundle_then_warms_each_mart(dev):
    (dashboards,) = batch_pod(dev)["containers"]
    environment = environment_of(dashboards)
    assert environment["SUPERSET_URL"]["value"] == "https://superset-web.dp-presentation.svc.cluster.local:8088"
    assert environment["SUPERSET_CA_FILE"]["value"] == "/etc/dataplatform/ca/ca.crt"
    assert environment["WARM_UP_TABLES"]["value"] == ",".join(mart.name for mart in CATALOG.marts)
    assert environment["WARM_UP_DATABASE"]["value"] == presentation_spec.DATABASE_NAME
    # Optional: before the presentation layer exists the pod still runs and the step says skipped.
    for name in ("SUPERSET_USERNAME", "SUPERSET_PASSWORD", "BUNDLE_DATABASE_PASSWORD"):
        assert environment[name]["valueFrom"]["secretKeyRef"] == {
            "name": "superset-bundle-import", "key": {"SUPERSET_USERNAME": "username", "SUPERSET_PASSWORD": "password",
                                                      "BUNDLE_DATABASE_PASSWORD": "database-password"}[name],
            "optional": True}
    volumes = {volume["name"]: volume for volume in batch_pod(dev)["volumes"]}
    assert volumes["bundle"]["configMap"] == {"name": "superset-asset-bundle", "optional": True}
    assert environment["BUNDLE_FILE"]["value"] == f"{batch.BUNDLE_DIR}/{presentation_spec.BUNDLE_FILE}"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_backup_job_runs_the_repository_script_on_the_configured_schedule(stack, dev, prod):
    recording = {"dev": dev, "prod": prod}[stack]
    settings = stack_config(stack).lakehouse.backup
    cronjob = named(recording, "kubernetes:batch/v1:CronJob", spec.BACKUP)
    job = cronjob.inputs["spec"]
    assert job["schedule"] == "0 0 * * *" == kubernetes_cron(settings.schedule)
    assert job["concurrencyPolicy"] == "Forbid"
    assert job["jobTemplate"]["spec"]["activeDeadlineSeconds"] == spec.BACKUP_DEADLINE_SECONDS
    assert job["successfulJobsHistoryLimit"] >= 1 and job["failedJobsHistoryLimit"] >= 1
    pod = job["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False and pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["image"] == image_references()["dbt-runner"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    environment = {item["name"]: item for item in container["env"]}
    bucket = f"dataplatform-{stack}-backups"
    assert environment["BACKUP_DIR"]["value"] == f"dremioS3:///{bucket}/dremio"
    assert environment["DREMIO_URL"]["value"] == "https://dremio-client.dp-lakehouse.svc.cluster.local:9047"
    assert environment["DREMIO_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": spec.BACKUP_SECRET,
                                                                           "key": "password"}
    # The ConfigMap carries the repository's script byte for byte, and the container runs it from the mount.
    script = named(recording, "kubernetes:core/v1:ConfigMap", spec.BACKUP_SCRIPT_CONFIG_MAP)
    assert script.inputs["data"][spec.BACKUP_SCRIPT_FILE] == spec.BACKUP_SCRIPT_SOURCE.read_text()
    mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
    assert container["command"] == ["python", f"{mounts['script']}/{spec.BACKUP_SCRIPT_FILE}"]
    assert environment["DREMIO_CA_FILE"]["value"] == f"{mounts['ca']}/ca.crt"
    secret = named(recording, "kubernetes:core/v1:Secret", spec.BACKUP_SECRET)
    assert is_secret(secret.inputs["stringData"])
    data = unwrap_secret(secret.inputs["stringData"])
    assert data["username"] == stack_config(stack).lakehouse.admin_user
    assert sorted(data) == ["ca.crt", "password", "username"]


def test_alerts_have_runbooks(dev):
    rules = [r for r in dev.resources if r.inputs.get("kind") == "PrometheusRule"]
    (rule,) = rules
    alerts = {item["alert"]: item for item in rule.inputs["spec"]["groups"][0]["rules"]}
    assert sorted(alerts) == ["BatchLate", "BatchStepFailed", "BatchSyncFailed", "DbtSourceStale", "DremioBackupFailed",
                              "DremioBackupLate", "DremioCoordinatorDown", "DremioExecutorsDegraded",
                              "DremioSlowQueries"]
    assert 'log_metric_histogram_dremio_query_duration_seconds_bucket{le="30.0"}' in alerts["DremioSlowQueries"]["expr"]
    for alert in alerts.values():
        # The backup alerts' runbooks sit with the other stores' backup alerts.
        document = "backup-and-restore" if "Backup" in alert["alert"] else "lakehouse"
        assert alert["annotations"]["runbook_url"] == f"docs/{document}.md#{alert['alert'].lower()}"


@pytest.mark.parametrize(("stack", "backup", "message"), [
    ("prod", {"retentionDays": 30},
     "dataplatform:lakehouse.backup.retentionDays: prod requires at least retention.auditDays (90) (got 30)"),
    ("dev", {"schedule": {"every": "30m"}},
     "dataplatform:lakehouse.backup.schedule: every '30m': a Dremio backup copies the whole KV store "
     "and runs at most hourly"),
    ("dev", {"retentionDays": 1}, "dataplatform:lakehouse.backup.retentionDays"),
])
def test_backup_settings_are_refused_naming_the_key(stack, backup, message):
    values = project_values(load_stack(stack).config)
    lakehouse = json.loads(values["lakehouse"]) if isinstance(values.get("lakehouse"), str) else dict(
        values.get("lakehouse") or {})
    with pytest.raises(ConfigError) as refused:
        parse_stack_config({**values, "lakehouse": json.dumps({**lakehouse, "backup": backup})}, stack)
    assert message in str(refused.value)


def test_the_write_source_carries_the_marts_reflection_refresh_policy(dev):
    sources = {resource.inputs["entity"]["name"]: resource.inputs["entity"]
               for resource in dev.of_type(DYNAMIC + "Source")}
    period = min(mart.reflection.refresh.minutes for mart in CATALOG.marts if mart.reflection) * 60_000
    assert period == 3_600_000  # the catalog's default, the seed's hourly refresh
    assert {key: sources["lake_write"][key] for key in ("accelerationRefreshPeriodMs", "accelerationGracePeriodMs",
                                                        "accelerationActivePolicyType")} == {
        "accelerationRefreshPeriodMs": period, "accelerationGracePeriodMs": 3 * period,
        "accelerationActivePolicyType": "PERIOD"}
