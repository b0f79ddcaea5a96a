"""Presentation declares Superset hardened from the platform's image with every credential in a Secret, the
Dremio connection over verified Flight, the read-only analyst role, alerts, and a bundle with a dataset per mart."""

from __future__ import annotations

import base64
import io
import json
import zipfile

import pytest
import yaml

from components.kit.images import image_references
from components.presentation import spec
from components.presentation.provider import MASKED_PASSWORD, dremio_uri
from infra.model.catalog import load_catalog
from infra.model.stackfiles import load_stack
from infra.offline.harness import SECRET_SENTINEL_PREFIX, is_secret, run_program, unwrap_secret
from tests.support.golden import check_golden
from tests.support.presentation import FLIGHT_HOST, presentation_program

CATALOG = load_catalog()


@pytest.fixture(scope="module", params=["dev", "prod"])
def recording(request):
    return run_program(presentation_program(request.param), load_stack(request.param))


def one(recording, type_: str):
    (resource,) = recording.of_type(type_)
    return resource


def by_name(recording, type_: str, name: str):
    (resource,) = [r for r in recording.of_type(type_)
                   if (r.inputs.get("metadata") or {}).get("name", r.inputs.get("name")) == name]
    return resource


PODS = {spec.WEB: "kubernetes:apps/v1:Deployment", spec.WORKER: "kubernetes:apps/v1:Deployment",
        spec.SETUP_JOB: "kubernetes:batch/v1:Job"}


def pod_specs(recording) -> dict[str, dict]:
    """Every Superset pod template's spec by workload name."""
    return {name: integral(by_name(recording, type_, name).inputs["spec"]["template"]["spec"])
            for name, type_ in PODS.items()}


def config_text(recording) -> str:
    return by_name(recording, "kubernetes:core/v1:ConfigMap", spec.CONFIG_MAP).inputs["data"]["superset_config.py"]


def test_no_chart_and_no_release(recording):
    assert not recording.of_type("kubernetes:helm.sh/v3:Release")


def test_workloads_run_the_platform_image_hardened_without_credentials(recording):
    for name, pod in pod_specs(recording).items():
        (container,) = pod["containers"]
        assert container["image"] == image_references()["superset"], name
        assert container["envFrom"] == [{"secretRef": {"name": spec.ENV_SECRET}}]
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 1000
        context = container["securityContext"]
        assert (context["readOnlyRootFilesystem"], context["allowPrivilegeEscalation"], context["capabilities"]) == (
            True, False, {"drop": ["ALL"]})
        assert all(container["resources"][section][kind] for section in ("requests", "limits")
                   for kind in ("cpu", "memory"))
        assert {"name": "pythonpath", "mountPath": "/app/pythonpath", "readOnly": True} in container["volumeMounts"]
        environment = {item["name"]: item.get("value") for item in container["env"]}
        assert environment["SUPERSET_CONFIG_PATH"] == "/app/pythonpath/superset_config.py"
    setup = pod_specs(recording)[spec.SETUP_JOB]
    assert setup["restartPolicy"] == "Never" and "$SUPERSET_ADMIN_PASSWORD" in setup["containers"][0]["command"][2]
    for resource in recording.resources:
        if resource.type in PODS.values() or resource.type == "kubernetes:core/v1:ConfigMap":
            assert SECRET_SENTINEL_PREFIX not in json.dumps(resource.inputs)
    config = by_name(recording, "kubernetes:core/v1:ConfigMap", spec.CONFIG_MAP).inputs["data"]
    assert config[spec.CA_KEY].startswith("-----BEGIN CERTIFICATE-----")


def test_web_and_worker_start_after_the_setup_job(recording):
    """The Job brings the database to the image's schema before pods of that image start."""
    job = by_name(recording, "kubernetes:batch/v1:Job", spec.SETUP_JOB)
    for name in (spec.WEB, spec.WORKER):
        assert job.urn in by_name(recording, "kubernetes:apps/v1:Deployment", name).dependencies
    environment = by_name(recording, "kubernetes:core/v1:Secret", spec.ENV_SECRET)
    config = by_name(recording, "kubernetes:core/v1:ConfigMap", spec.CONFIG_MAP)
    assert {environment.urn, config.urn} <= set(job.dependencies)


def integral(value):
    """The recording's numbers as the program wrote them: the engine carries every number as a float."""
    if isinstance(value, dict):
        return {key: integral(item) for key, item in value.items()}
    if isinstance(value, list):
        return [integral(item) for item in value]
    return int(value) if isinstance(value, float) and value.is_integer() else value


def test_workloads_match_golden(recording):
    """The Deployments, the Job, the Service and superset_config.py as declared (the CA is the test's)."""
    declared = {}
    for name, type_ in {**PODS, spec.WEB + "/service": "kubernetes:core/v1:Service"}.items():
        resource = by_name(recording, type_, name.removesuffix("/service"))
        declared[f"{type_.rsplit(':', 1)[-1]}/{name.removesuffix('/service')}"] = integral(
            {key: resource.inputs[key] for key in ("metadata", "spec")})
    declared["superset_config.py"] = config_text(recording)
    check_golden(f"presentation/{recording.stack}.yaml", yaml.safe_dump(declared, sort_keys=True, width=120))


def test_superset_serves_https_with_a_cert_manager_certificate(recording):
    (web,) = pod_specs(recording)[spec.WEB]["containers"]
    environment = {item["name"]: item.get("value") for item in web["env"]}
    assert environment["GUNICORN_CMD_ARGS"] == "--certfile=/app/tls/tls.crt --keyfile=/app/tls/tls.key"
    assert {"name": "tls", "secret": {"secretName": spec.TLS_SECRET}} in pod_specs(recording)[spec.WEB]["volumes"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert web[probe]["httpGet"]["scheme"] == "HTTPS"
    assert web["ports"] == [{"name": "http", "containerPort": 8088}]
    service = by_name(recording, "kubernetes:core/v1:Service", spec.WEB).inputs["spec"]
    assert service["type"] == "ClusterIP" and service["selector"] == spec.labels("web")
    certificate = one(recording, "kubernetes:cert-manager.io/v1:Certificate")
    assert certificate.inputs["spec"]["secretName"] == spec.TLS_SECRET
    assert "superset-web.dp-presentation.svc.cluster.local" in certificate.inputs["spec"]["dnsNames"]
    assert spec.server_url() == "https://superset-web.dp-presentation.svc.cluster.local:8088"


def test_configuration_is_hardened(recording):
    text = config_text(recording)
    for line in ('SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]', "TALISMAN_ENABLED = True",
                 "SESSION_COOKIE_SECURE = True", "SESSION_COOKIE_HTTPONLY = True", "WTF_CSRF_ENABLED = True",
                 "AUTH_USER_REGISTRATION = False", "DEBUG = False", "EVENT_LOGGER = AuditEventLogger()",
                 "sslmode=verify-full"):
        assert line in text


def database_uri(text: str) -> str:
    """The metadata database URI superset_config.py builds, with the environment's names kept."""
    part = text.split("SQLALCHEMY_DATABASE_URI = (", 1)[1].split(")", 1)[0]
    return "".join(line.split('"')[1] for line in part.splitlines() if line.strip().startswith('f"'))


def test_metadata_database_is_verified_against_the_servers_ca(recording):
    _, _, parameters = database_uri(config_text(recording)).partition("?")
    rds = recording.stack == "prod"  # prod's metadata server is RDS, dev's runs in the cluster
    assert parameters == f"sslmode=verify-full&sslrootcert={spec.RDS_CA_FILE if rds else spec.CA_FILE}"
    assert (spec.RDS_CA_FILE, spec.CA_FILE) == ("/etc/dataplatform/db-ca/rds-ca.pem", "/app/pythonpath/ca_bundle")
    # Redis runs in the cluster in every stack: its clients keep the stack's CA.
    assert f"ssl_ca_certs={spec.CA_FILE}" in config_text(recording).split("# ---- redis", 1)[1]


def test_every_pod_that_opens_the_database_gets_the_rds_bundle_in_prod(recording):
    volume = {"name": spec.DB_CA_VOLUME, "emptyDir": {}}
    mount = {"name": spec.DB_CA_VOLUME, "mountPath": spec.DB_CA_DIR, "readOnly": True}
    for name, pod in pod_specs(recording).items():
        (container,) = pod["containers"]
        if recording.stack == "dev":
            assert volume not in pod["volumes"] and mount not in container["volumeMounts"]
            assert pod["initContainers"] == [], name
            continue
        assert volume in pod["volumes"] and mount in container["volumeMounts"], name
        (copy,) = pod["initContainers"]
        assert copy["name"] == "rds-ca" and copy["image"] == image_references()["migrations"]
        assert copy["command"] == ["cp", "/etc/dataplatform/rds-global-bundle.pem", spec.RDS_CA_FILE]
        assert copy["volumeMounts"] == [{"name": spec.DB_CA_VOLUME, "mountPath": spec.DB_CA_DIR}]
        context = copy["securityContext"]
        assert (context["runAsNonRoot"], context["runAsUser"], context["allowPrivilegeEscalation"],
                context["readOnlyRootFilesystem"], context["capabilities"], context["seccompProfile"]) == (
            True, spec.SUPERSET_UID, False, True, {"drop": ["ALL"]}, {"type": "RuntimeDefault"})
        assert all(copy["resources"][section][kind] for section in ("requests", "limits") for kind in ("cpu", "memory"))


def test_an_rds_bundle_needs_the_image_that_ships_it():
    shape = spec.SupersetShape(image="superset:6.1.0", replicas=1, resources=spec.INIT_RESOURCES, redis_host="r",
                               redis_port="6379", rds_ca_file="/etc/dataplatform/rds-global-bundle.pem")
    with pytest.raises(ValueError, match="rds_ca_image"):
        spec.workloads(shape)


def test_redis_endpoint_and_password_reach_superset_without_a_plaintext_value(recording):
    for pod in pod_specs(recording).values():
        environment = {item["name"]: item for item in pod["containers"][0]["env"]}
        assert (environment["REDIS_HOST"]["value"], environment["REDIS_PORT"]["value"]) == (
            "redis.dp-presentation.svc.cluster.local", "6379")
        assert environment["REDIS_PASSWORD"] == {
            "name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "redis-auth", "key": "redis-password"}}}
    redis = config_text(recording).split("# ---- redis", 1)[1].split("# ---- ", 1)[0]
    assert "os.environ['REDIS_PASSWORD']" in redis and f"ssl_ca_certs={spec.CA_FILE}" in redis
    assert "ssl_check_hostname=true" in redis and "ssl_cert_reqs=required" in redis


def test_secret_key_and_logins_only_in_the_secret(recording):
    secret = by_name(recording, "kubernetes:core/v1:Secret", spec.ENV_SECRET)
    assert secret.inputs["metadata"]["namespace"] == "dp-presentation" and is_secret(secret.inputs["stringData"])
    data = unwrap_secret(secret.inputs["stringData"])
    assert data["SUPERSET_SECRET_KEY"].startswith(SECRET_SENTINEL_PREFIX)
    assert data["DB_USER"] == "superset" and data["DB_NAME"] == "superset"


def test_dremio_connection_and_analyst_role(recording):
    database = one(recording, "pulumi-python:dynamic/superset:Database")
    assert database.inputs["uri"] == ("dremio+flight://superset@dremio-client.dp-lakehouse.svc.cluster.local:32010/"
                                      "dremio?UseEncryption=true&disableCertificateVerification=false")
    assert is_secret(database.inputs["password"])
    assert [database.inputs[flag] for flag in ("allow_dml", "allow_ctas", "allow_cvas", "allow_file_upload")] == [
        False] * 4
    role = by_name(recording, "pulumi-python:dynamic/superset:Role", "analyst")
    assert not [permission for permission, _ in role.inputs["permissions"]
                if permission.startswith(("can_write", "can_add", "can_edit", "can_delete", "can_sql"))]
    assert ["schema_access", "[dremio].[gold.marts]"] in role.inputs["permissions"]


def test_the_runner_gets_the_bundle_and_a_least_privilege_importer(recording):
    role = by_name(recording, "pulumi-python:dynamic/superset:Role", spec.IMPORTER_ROLE)
    assert sorted(role.inputs["permissions"]) == sorted(spec.importer_permissions())
    assert not [p for p, view in role.inputs["permissions"] if p.startswith(("can_sql", "menu_access", "all_"))
                or view in {"User", "Role", "SQLLab"}]
    user = one(recording, "pulumi-python:dynamic/superset:User")
    assert (user.inputs["name"], user.inputs["roles"]) == (spec.IMPORTER_USER, [spec.IMPORTER_ROLE])
    assert is_secret(user.inputs["password"])
    bundle = by_name(recording, "kubernetes:core/v1:ConfigMap", spec.BUNDLE_CONFIGMAP)
    assert bundle.inputs["metadata"]["namespace"] == "dp-lakehouse"
    assert base64.b64decode(bundle.inputs["binaryData"][spec.BUNDLE_FILE]) == spec.bundle_zip()
    secret = by_name(recording, "kubernetes:core/v1:Secret", spec.IMPORT_SECRET)
    assert secret.inputs["metadata"]["namespace"] == "dp-lakehouse" and is_secret(secret.inputs["stringData"])
    data = unwrap_secret(secret.inputs["stringData"])
    assert data["username"] == spec.IMPORTER_USER and data["password"].startswith(SECRET_SENTINEL_PREFIX)
    assert data["database-password"] == f"{SECRET_SENTINEL_PREFIX}dremio"


def test_alerts_carry_runbooks(recording):
    rules = one(recording, "kubernetes:monitoring.coreos.com/v1:PrometheusRule")
    (group,) = rules.inputs["spec"]["groups"]
    assert {rule["alert"]: rule["annotations"]["runbook_url"] for rule in group["rules"]} == {
        "SupersetApiErrors": "docs/presentation.md#supersetapierrors",
        "SupersetDown": "docs/presentation.md#supersetdown"}


def test_every_gold_mart_has_a_chart_on_the_dashboard():
    datasets = spec.bundle_datasets()
    charts = spec.bundle_charts()
    charted = {chart["dataset_uuid"] for chart in charts.values()}
    assert {datasets[mart.name]["uuid"] for mart in CATALOG.marts} <= charted
    assert charted <= {dataset["uuid"] for dataset in datasets.values()}, "a chart on a dataset outside the bundle"
    (dashboard,) = spec.bundle_dashboards().values()
    assert spec.dashboard_chart_uuids(dashboard) == set(charts)
    for chart in charts.values():
        json.loads(chart["query_context"])
        assert chart["params"]["viz_type"] == chart["viz_type"]


def test_the_bundle_database_is_the_provider_connection_with_a_masked_password():
    database = spec.bundle_database()
    assert database["sqlalchemy_uri"] == dremio_uri(FLIGHT_HOST, 32010, "superset").replace(
        "superset@", f"superset:{MASKED_PASSWORD}@")
    assert not [flag for flag in ("allow_dml", "allow_ctas", "allow_cvas", "allow_file_upload") if database[flag]]
    with zipfile.ZipFile(io.BytesIO(spec.bundle_zip())) as bundle:
        assert f"{spec.BUNDLE_FOLDER}/{spec.BUNDLE_DATABASE_FILE}" in bundle.namelist()
