"""Lakehouse declares Dremio's hardened workloads, its configuration, the dbt runner and alerts per stack, with
secrets only in secret inputs, grants only where the edition has them, and workloads pinned by golden files."""

from __future__ import annotations

import json

import pytest
import yaml

from components.kit.images import image_references
from components.lakehouse import spec
from components.presentation import spec as presentation_spec
from infra.model.config import parse_stack_config, project_values
from infra.model.errors import ConfigError
from infra.model.schedules import kubernetes_cron
from infra.model.stackfiles import load_stack
from infra.offline.harness import SECRET_SENTINEL_PREFIX, is_secret, run_program, unwrap_secret
from tests.support.golden import check_golden
from tests.support.lakehouse import lakehouse_program, shape, stack_config

DYNAMIC = "pulumi-python:dynamic/dremio:"


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


def test_the_runner_runs_on_the_catalog_schedule_with_the_pinned_image(dev):
    cronjob = named(dev, "kubernetes:batch/v1:CronJob", spec.RUNNER)
    assert cronjob.inputs["spec"]["schedule"] == "0 * * * *"
    pod = cronjob.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["initContainers"]
    assert container["image"] == image_references()["dbt-runner"]
    environment = {item["name"]: item for item in container["env"]}
    assert environment["DBT_DREMIO_LAKE_SOURCE"]["value"] == "lake_write"
    assert environment["DBT_DREMIO_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == spec.RUNNER_SECRET
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_the_runner_imports_the_superset_bundle_only_after_dbt_built(dev):
    cronjob = named(dev, "kubernetes:batch/v1:CronJob", spec.RUNNER)
    pod = cronjob.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    # dbt is the init container: the import starts only once `dbt build` exited 0.
    assert [c["name"] for c in pod["initContainers"]] == ["dbt"]
    (importer,) = pod["containers"]
    assert importer["image"] == image_references()["dbt-runner"]
    assert importer["command"] == ["python", spec.IMPORT_SCRIPT]
    assert importer["securityContext"]["allowPrivilegeEscalation"] is False
    environment = {item["name"]: item for item in importer["env"]}
    assert environment["SUPERSET_URL"]["value"] == "https://superset-web.dp-presentation.svc.cluster.local:8088"
    assert environment["SUPERSET_CA_FILE"]["value"] == "/etc/dataplatform/ca/ca.crt"
    # Optional: before the presentation layer exists the pod still starts, dbt builds and the import says skipped.
    for name in ("SUPERSET_USERNAME", "SUPERSET_PASSWORD", "BUNDLE_DATABASE_PASSWORD"):
        assert environment[name]["valueFrom"]["secretKeyRef"] == {
            "name": "superset-bundle-import", "key": {"SUPERSET_USERNAME": "username", "SUPERSET_PASSWORD": "password",
                                                      "BUNDLE_DATABASE_PASSWORD": "database-password"}[name],
            "optional": True}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert volumes["bundle"]["configMap"] == {"name": "superset-asset-bundle", "optional": True}
    assert environment["BUNDLE_FILE"]["value"] == f"{spec.BUNDLE_DIR}/{presentation_spec.BUNDLE_FILE}"


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
    assert sorted(alerts) == ["DbtRunFailed", "DbtRunLate", "DremioBackupFailed", "DremioBackupLate",
                              "DremioCoordinatorDown", "DremioExecutorsDegraded", "DremioSlowQueries"]
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
