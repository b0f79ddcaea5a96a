"""Ingestion declares Airbyte's hardened release with auth on and every credential in Secrets, and one source,
bronze destination and connection per catalog source with the catalog's schedules, manual for the sources the batch
syncs (those the marts read); config errors name the key (the
rules between sources and their endpoints are in tests/infra/test_config_inputs.py)."""

from __future__ import annotations

import base64
import json

import pytest

from components.ingestion import spec, truststore
from components.ingestion.provider import destination_path
from infra.model.catalog import load_catalog
from infra.model.lineage import mart_sources
from infra.model.schedules import quartz_cron
from infra.model.stackfiles import load_stack
from infra.offline.harness import SECRET_SENTINEL_PREFIX, is_secret, run_program, unwrap_secret
from tests.support.ingestion import CA, ingestion_program, stack_config

CATALOG = load_catalog()
BATCHED = set(mart_sources(CATALOG))
DYNAMIC = "pulumi-python:dynamic/airbyte:"


@pytest.fixture(scope="module", params=["dev", "prod"])
def recording(request):
    return run_program(ingestion_program(request.param), load_stack(request.param))


def named(recording, kind: str) -> dict:
    return {resource.name: resource for resource in recording.of_type(DYNAMIC + kind)}


def test_one_source_destination_and_connection_per_catalog_source(recording):
    sources = [source.name for source in CATALOG.sources]
    assert sorted(named(recording, "Source")) == sorted(f"ingestion-source-{name}" for name in sources)
    assert sorted(named(recording, "Destination")) == sorted(f"ingestion-destination-{name}" for name in sources)
    connections = named(recording, "Connection")
    for source in CATALOG.sources:
        inputs = connections[f"ingestion-connection-{source.name}"].inputs
        assert inputs.get("cron") == (None if source.name in BATCHED else quartz_cron(source.schedule)), source.name
        assert (inputs["source"], inputs["destination"]) == (source.name, f"bronze-{source.name}")
        assert [stream["name"] for stream in inputs["configurations"]["streams"]] == [
            stream.name for stream in source.streams]


def test_the_batch_runs_the_connections_of_the_sources_the_marts_read(recording):
    assert {"postgres"} == BATCHED
    manual = sorted(name.removeprefix("ingestion-connection-") for name, resource in
                    named(recording, "Connection").items() if resource.inputs.get("cron") is None)
    assert manual == sorted(BATCHED)


def test_destinations_land_in_the_bronze_bucket_under_the_source_folder(recording):
    for name, destination in named(recording, "Destination").items():
        configuration = destination.inputs["configuration"]
        source = name.removeprefix("ingestion-destination-")
        assert configuration["s3_bucket_name"] == f"dataplatform-{recording.stack}-bronze"
        assert destination_path(configuration, "s") == f"{source}/s/"
        assert "access_key_id" not in configuration  # Airbyte answers it masked: compared by hash
        assert is_secret(destination.inputs["secret_configuration"])
        assert unwrap_secret(destination.inputs["secret_configuration"])["access_key_id"] == "ingestion-key"


def test_release_has_auth_on_and_no_credential_in_values(recording):
    (release,) = recording.of_type("kubernetes:helm.sh/v3:Release")
    values = release.inputs["values"]
    assert values["global"]["auth"] == {"enabled": True, "secretCreationEnabled": False,
                                        "managedSecretName": spec.AUTH_SECRET,
                                        "instanceAdmin": {"firstName": "Platform", "lastName": "Administrator"}}
    assert values["global"]["database"]["host"] == "metadata-rw.dp-metadata.svc.cluster.local"
    assert values["global"]["storage"]["bucket"]["log"] == f"dataplatform-{recording.stack}-airbyte"
    assert values["postgresql"] == {"enabled": False} and values["minio"] == {"enabled": False}
    assert SECRET_SENTINEL_PREFIX not in json.dumps(values)
    for component in ("server", "worker", "temporal"):
        assert values[component]["containerSecurityContext"]["readOnlyRootFilesystem"] is True
        assert spec.TMP_MOUNT in values[component]["extraVolumeMounts"]


def test_airbyte_jvms_trust_the_stack_ca(recording):
    values = one_release(recording)["values"]
    (trusted,) = [c for c in recording.of_type("kubernetes:core/v1:ConfigMap")
                  if c.inputs["metadata"]["name"] == spec.CA_CONFIG_MAP]
    assert "BEGIN CERTIFICATE" in trusted.inputs["data"]["ca.crt"]
    assert "temporal" not in spec.JAVA_COMPONENTS, "Temporal is Go: it verifies with SQL_CA"
    assert values["global"]["java"]["opts"] == [f"-Djavax.net.ssl.trustStore={spec.EXTRACTED_DIR}/java/cacerts",
                                                "-Djavax.net.ssl.trustStorePassword=changeit"]
    for component, repository in spec.JAVA_COMPONENTS.items():
        part = values[component]
        assert part["image"]["repository"] == repository and part["image"]["tag"] == spec.AIRBYTE_APP_VERSION
        init = {container["name"]: container for container in part["extraInitContainers"]}
        copy = init["ca-trust"]
        assert copy["image"] == f"{repository}:{spec.AIRBYTE_APP_VERSION}"
        assert copy["command"] == ["sh", "-c", f"cp -R {spec.EXTRACTED_DIR}/. {spec.EXTRACTED_COPY}/"]
        for container in init.values():
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
            assert container["securityContext"]["runAsUser"] == spec.AIRBYTE_UID
            assert container["resources"]["limits"]["memory"]
            assert {m["name"] for m in container["volumeMounts"]} <= {v["name"] for v in part["extraVolumes"]}
        assert {m["name"] for m in part["extraVolumeMounts"]} <= {v["name"] for v in part["extraVolumes"]}
        mounts = {m["mountPath"]: m for m in part["extraVolumeMounts"]}
        # The image's entrypoint runs update-ca-trust over the anchors and rewrites the extracted stores.
        assert mounts[spec.ANCHORS_DIR] == {"name": "platform-ca", "mountPath": spec.ANCHORS_DIR, "readOnly": True}
        assert mounts[spec.EXTRACTED_DIR] == {"name": "ca-trust", "mountPath": spec.EXTRACTED_DIR}


def test_job_pods_orchestrator_trusts_the_stack_ca_where_the_object_store_is_the_platforms(recording):
    values = one_release(recording)["values"]
    secrets = {s.inputs["metadata"]["name"]: s for s in recording.of_type("kubernetes:core/v1:Secret")}
    if recording.stack == "prod":  # AWS S3: public endpoints only, the JVM's own trust store
        assert "containerOrchestrator" not in values["global"]["workloads"]
        assert spec.JOB_TRUST_SECRET not in secrets
        return
    orchestrator = values["global"]["workloads"]["containerOrchestrator"]
    assert orchestrator == {"javaOpts": spec.JOB_JAVA_OPTS,
                            "dataPlane": {"secretName": spec.JOB_TRUST_SECRET, "secretMountPath": spec.JOB_TRUST_DIR}}
    store = base64.b64decode(unwrap_secret(secrets[spec.JOB_TRUST_SECRET].inputs["data"])[spec.JOB_TRUSTSTORE_KEY])
    assert store == truststore.jks(CA)
    assert f"-Djavax.net.ssl.trustStore={spec.JOB_TRUST_DIR}/{spec.JOB_TRUSTSTORE_KEY}" in spec.JOB_JAVA_OPTS


def test_airbyte_database_connection_is_verify_full(recording):
    database = one_release(recording)["values"]["global"]["database"]
    name, _, parameters = database["name"].partition("?")
    assert name == "airbyte"
    rds = recording.stack == "prod"
    ca_file = f"{spec.DB_CA_DIR}/rds-ca.pem" if rds else f"{spec.ANCHORS_DIR}/ca.crt"
    assert parameters == f"sslmode=verify-full&sslrootcert={ca_file}"
    # The chart joins host, port and name into DATABASE_URL: jdbc:postgresql://<host>:<port>/<name>.
    url = f"jdbc:postgresql://{database['host']}:{database['port']}/{database['name']}"
    assert url.endswith("/airbyte?sslmode=verify-full&sslrootcert=" + ca_file)
    assert database["replica"] == {"userSecretKey": spec.DATABASE_USER_KEY,
                                   "passwordSecretKey": spec.DATABASE_PASSWORD_KEY}
    for component in ("server", "worker", "workloadApiServer", "cron", "airbyteBootloader", "workloadLauncher"):
        part = one_release(recording)["values"][component]
        mounted = {m["mountPath"] for m in part["extraVolumeMounts"]}
        assert ca_file.rsplit("/", 1)[0] in mounted, component
        init = [c["name"] for c in part["extraInitContainers"]]
        assert init == (["rds-ca", "ca-trust"] if rds else ["ca-trust"]), component
        if rds:
            (copy,) = [c for c in part["extraInitContainers"] if c["name"] == "rds-ca"]
            assert copy["command"] == ["cp", "/etc/dataplatform/rds-global-bundle.pem", ca_file]
            assert copy["image"].startswith("ghcr.io/dataplatform/migrations:")


def test_temporal_sets_up_its_own_databases_over_verified_tls(recording):
    temporal = one_release(recording)["values"]["temporal"]
    rds = recording.stack == "prod"
    ca_file = f"{spec.DB_CA_DIR}/rds-ca.pem" if rds else f"{spec.ANCHORS_DIR}/ca.crt"
    env = {variable["name"]: variable.get("value") for variable in temporal["extraEnv"]}
    assert env == {"SKIP_SCHEMA_SETUP": "true", "SKIP_DB_CREATE": "true", "DBNAME": "temporal",
                   "VISIBILITY_DBNAME": "temporal_visibility", "SQL_CA": ca_file, "SQL_HOST_VERIFICATION": "true"}
    init = {container["name"]: container for container in temporal["extraInitContainers"]}
    assert list(init) == (["rds-ca", "temporal-schema"] if rds else ["temporal-schema"])
    schema = init["temporal-schema"]
    script = schema["command"][2]
    assert "--tls " in script and "--tls-ca-file \"$SQL_CA\"" in script
    assert "disable-host-verification" not in script
    assert not any(step.strip().endswith(" create") for step in script.split("&&")), "the databases exist already"
    for database, folder in (("temporal", "temporal"), ("temporal_visibility", "visibility")):
        assert f"--db {database} setup-schema -v 0.0" in script
        assert f"--db {database} update-schema -d /etc/temporal/schema/postgresql/v12/{folder}/versioned" in script
    assert {e["name"]: e.get("value") for e in schema["env"]}["SQL_CA"] == ca_file
    assert schema["securityContext"]["readOnlyRootFilesystem"] is True and schema["resources"]["limits"]["memory"]
    assert {"name": "temporal-config", "mountPath": spec.TEMPORAL_CONFIG_DIR} in temporal["extraVolumeMounts"]


def test_temporal_databases_are_created_for_the_airbyte_login_without_createdb():
    from components.metadata.access import access_model
    from components.platform import DATABASE_LOGINS

    model = access_model(CATALOG, DATABASE_LOGINS)
    assert {database: model.databases[database] for database in spec.TEMPORAL_DATABASES} == {
        "temporal": "airbyte", "temporal_visibility": "airbyte"}


def test_only_the_launcher_and_the_bootloader_may_call_the_kubernetes_api(recording):
    values = one_release(recording)["values"]
    assert values["serviceAccount"] == {"create": False}
    assert values["global"]["serviceAccountName"] == spec.DEFAULT_ACCOUNT
    assert values["workloadLauncher"]["serviceAccountName"] == spec.LAUNCHER_ACCOUNT
    assert values["airbyteBootloader"]["serviceAccountName"] == spec.BOOTLOADER_ACCOUNT
    accounts = {a.inputs["metadata"]["name"]: a for a in recording.of_type("kubernetes:core/v1:ServiceAccount")}
    assert accounts[spec.DEFAULT_ACCOUNT].inputs["automountServiceAccountToken"] is False
    roles = {r.inputs["metadata"]["name"]: r.inputs["rules"] for r in recording.of_type(
        "kubernetes:rbac.authorization.k8s.io/v1:Role")}
    assert roles == {
        spec.LAUNCHER_ACCOUNT: [{"apiGroups": [""], "resources": ["pods"],
                                 "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]}],
        spec.BOOTLOADER_ACCOUNT: [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": [spec.AUTH_SECRET],
                                   "verbs": ["get", "update"]}],
    }


def one_release(recording) -> dict:
    (release,) = recording.of_type("kubernetes:helm.sh/v3:Release")
    return release.inputs


def test_credentials_are_secret_inputs_only(recording):
    secrets = {resource.name: resource for resource in recording.of_type("kubernetes:core/v1:Secret")}
    credentials = {"ingestion-auth-secret", "ingestion-config-secret"}
    # Besides the credentials, dev has the job trust store (the stack's CA certificate only).
    assert set(secrets) - credentials == ({"ingestion-job-truststore"} if recording.stack == "dev" else set())
    for name in credentials:
        assert is_secret(secrets[name].inputs["stringData"])
    config = unwrap_secret(secrets["ingestion-config-secret"].inputs["stringData"])
    assert config[spec.DATABASE_USER_KEY] == "airbyte" and config[spec.ACCESS_KEY_ID_KEY] == "airbyte-key"
    plain = [resource.name for resource in recording.resources if resource.type != "kubernetes:core/v1:Secret"
             and SECRET_SENTINEL_PREFIX in json.dumps({k: v for k, v in resource.inputs.items()
                                                       if not is_secret(v)}, default=str)]
    assert plain == []


def test_alerts_carry_runbooks_in_the_ingestion_docs(recording):
    (rules,) = [resource for resource in recording.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")]
    (group,) = rules.inputs["spec"]["groups"]
    alerts = {rule["alert"]: rule for rule in group["rules"] if "alert" in rule}
    assert sorted(alerts) == ["AirbyteServerDown", "AirbyteSyncFailed"]
    assert [rule for rule in group["rules"] if "record" in rule] == []
    for name, rule in alerts.items():
        assert rule["annotations"]["runbook_url"] == f"docs/ingestion.md#{name.lower()}"


def test_a_source_password_stays_secret():
    sources = {name: value.model_dump(by_alias=True, exclude_none=True)
               for name, value in stack_config("prod").ingestion.sources.items()}
    database = next(source for source in CATALOG.sources if source.kind == "postgres")
    sources[database.name]["password"] = "pg-secret-value"
    config = stack_config("prod", ingestion={"sources": sources})
    assert "pg-secret-value" not in repr(config)
    recording = run_program(ingestion_program("prod", config), load_stack("prod"))
    source = named(recording, "Source")[f"ingestion-source-{database.name}"]
    assert is_secret(source.inputs["secret_configuration"])
    secret = unwrap_secret(source.inputs["secret_configuration"])
    assert secret["password"] == "pg-secret-value" and "username" not in secret
    # The login name is answered in plain by Airbyte (its spec does not mark it airbyte_secret): compared as answered.
    assert source.inputs["configuration"]["username"] == sources[database.name]["username"]
    assert "pg-secret-value" not in json.dumps(source.inputs["configuration"])


def test_stack_config_errors_name_the_key():
    from infra.model.errors import ConfigError

    with pytest.raises(ConfigError, match=r"dataplatform:ingestion\.failureWebhook"):
        stack_config("dev", ingestion={"failureWebhook": "http://hooks.example.com/airbyte"})
    first = CATALOG.sources[0].name
    with pytest.raises(ConfigError, match=rf"dataplatform:ingestion\.sources\.{first}\.hots"):
        stack_config("dev", ingestion={"sources": {first: {"hots": "db"}}})


def test_the_api_is_reached_only_through_the_tls_front(recording):
    assert spec.server_url() == "https://airbyte-api.dp-ingestion.svc.cluster.local:8443"
    (certificate,) = recording.of_type("kubernetes:cert-manager.io/v1:Certificate")
    assert certificate.inputs["spec"]["secretName"] == spec.API_TLS_SECRET
    assert "airbyte-api.dp-ingestion.svc.cluster.local" in certificate.inputs["spec"]["dnsNames"]
    (service,) = recording.of_type("kubernetes:core/v1:Service")
    assert service.inputs["spec"]["type"] == "ClusterIP"
    assert service.inputs["spec"]["selector"] == spec.SERVER_SELECTOR
    (release,) = recording.of_type("kubernetes:helm.sh/v3:Release")
    (proxy,) = release.inputs["values"]["server"]["extraContainers"]
    assert proxy["securityContext"]["readOnlyRootFilesystem"] is True
    assert proxy["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert {mount["name"] for mount in proxy["volumeMounts"]} <= {
        volume["name"] for volume in release.inputs["values"]["server"]["extraVolumes"]}
    (conf,) = [c for c in recording.of_type("kubernetes:core/v1:ConfigMap")
               if c.inputs["metadata"]["name"] == spec.PROXY_CONFIG_MAP]
    text = conf.inputs["data"]["default.conf"]
    assert "listen 8443 ssl;" in text and "proxy_pass http://127.0.0.1:8001;" in text
    for connection in recording.of_type(DYNAMIC + "Connection"):
        assert unwrap_secret(connection.inputs["connection"])["url"] == spec.server_url()


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_chart_renders_verified_temporal_tls_own_accounts_and_no_minio(stack_recording, stack):
    """Over what chart V2 renders with the stack's values (skipped when the chart is not cached)."""
    from infra.offline.render.monitors import StackObject, pod_templates
    from tests.support.render import release, rendered

    result = release(rendered(stack_recording(stack)), spec.RELEASE)
    if result.status != "rendered":
        pytest.skip(f"{stack}: airbyte not rendered: {result.reason}")
    installed = [StackObject(spec.RELEASE, item.document) for item in result.installed]
    assert not [item for item in installed if "minio" in item.name.lower()], "the chart's own MinIO is rendered"
    templates = {workload.name: template for workload, template in pod_templates(installed)}
    accounts = {name: template["spec"].get("serviceAccountName") for name, template in templates.items()}
    assert accounts == {"airbyte-bootloader": spec.BOOTLOADER_ACCOUNT, "airbyte-cron": spec.DEFAULT_ACCOUNT,
                        "airbyte-server": spec.DEFAULT_ACCOUNT, "airbyte-temporal": spec.DEFAULT_ACCOUNT,
                        "airbyte-worker": spec.DEFAULT_ACCOUNT, "airbyte-workload-api-server": spec.DEFAULT_ACCOUNT,
                        "airbyte-workload-launcher": spec.LAUNCHER_ACCOUNT}
    assert not [item for item in installed if item.kind in ("ServiceAccount", "Role", "RoleBinding")]
    (server,) = [c for c in templates["airbyte-temporal"]["spec"]["containers"] if c["name"] == "airbyte-temporal"]
    names = [variable["name"] for variable in server["env"]]
    assert len(names) == len(set(names)), "an environment variable is defined twice"
    env = {variable["name"]: variable.get("value") for variable in server["env"]}
    # What Temporal 1.27's server reads for its SQL TLS (docker/config_template.yaml, postgres12).
    assert env["SQL_HOST_VERIFICATION"] == "true" and env["SQL_CA"] and env["SKIP_SCHEMA_SETUP"] == "true"
    for template in templates.values():
        for container in template["spec"].get("initContainers", []) + template["spec"]["containers"]:
            assert container["resources"]["limits"]["memory"], container["name"]
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, container["name"]


def test_the_launcher_keeps_a_success_as_long_as_a_failure(recording):
    """AirbyteSyncFailed judges a failed attempt against the newest attempt of its connection still listed: a success
    the launcher swept after 10 minutes (its default) would leave the older failure alone and raise it again."""
    env = {item["name"]: item["value"] for item in one_release(recording)["values"]["workloadLauncher"]["extraEnv"]}
    assert env["SUCCEEDED_TTL_MINUTES"] == env["UNSUCCESSFUL_TTL_MINUTES"] == str(spec.JOB_POD_TTL_MINUTES)
