"""Ingestion declares Airbyte's hardened release with auth on and every credential in Secrets, and one source,
bronze destination and connection per catalog source with the catalog's schedules; config errors name the key (the
rules between sources and their endpoints are in tests/infra/test_config_inputs.py)."""

from __future__ import annotations

import json

import pytest

from components.ingestion import spec
from components.ingestion.provider import destination_path
from infra.model.catalog import load_catalog
from infra.model.schedules import quartz_cron
from infra.model.stackfiles import load_stack
from infra.offline.harness import SECRET_SENTINEL_PREFIX, is_secret, run_program, unwrap_secret
from tests.support.ingestion import ingestion_program, stack_config

CATALOG = load_catalog()
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
        assert inputs["cron"] == quartz_cron(source.schedule)
        assert (inputs["source"], inputs["destination"]) == (source.name, f"bronze-{source.name}")
        assert [stream["name"] for stream in inputs["configurations"]["streams"]] == [
            stream.name for stream in source.streams]


def test_destinations_land_in_the_bronze_bucket_under_the_source_folder(recording):
    for name, destination in named(recording, "Destination").items():
        configuration = destination.inputs["configuration"]
        source = name.removeprefix("ingestion-destination-")
        assert configuration["s3_bucket_name"] == f"dataplatform-{recording.stack}-bronze"
        assert destination_path(configuration, "s") == f"{source}/s/"
        assert configuration["access_key_id"] == "ingestion-key"
        assert is_secret(destination.inputs["secret_configuration"])


def test_release_has_auth_on_and_no_credential_in_values(recording):
    (release,) = recording.of_type("kubernetes:helm.sh/v3:Release")
    values = release.inputs["values"]
    assert values["global"]["auth"] == {"enabled": True, "secretName": spec.AUTH_SECRET,
                                        "instanceAdmin": {"secretName": spec.AUTH_SECRET, "firstName": "Platform",
                                                          "lastName": "Administrator"}}
    assert values["global"]["database"]["host"] == "metadata-rw.dp-metadata.svc.cluster.local"
    assert values["global"]["storage"]["bucket"]["log"] == f"dataplatform-{recording.stack}-airbyte"
    assert values["postgresql"] == {"enabled": False}
    assert SECRET_SENTINEL_PREFIX not in json.dumps(values)
    for component in ("server", "worker", "temporal"):
        assert values[component]["containerSecurityContext"]["readOnlyRootFilesystem"] is True
        assert spec.TMP_MOUNT in values[component]["extraVolumeMounts"]


def test_airbyte_jvms_trust_the_stack_ca(recording):
    values = one_release(recording)["values"]
    (trusted,) = [c for c in recording.of_type("kubernetes:core/v1:ConfigMap")
                  if c.inputs["metadata"]["name"] == spec.CA_CONFIG_MAP]
    assert "BEGIN CERTIFICATE" in trusted.inputs["data"]["ca.crt"]
    assert "temporal" not in spec.JAVA_COMPONENTS, "Temporal is Go: no JVM truststore"
    for component, repository in spec.JAVA_COMPONENTS.items():
        part = values[component]
        init = {container["name"]: container for container in part["extraInitContainers"]}
        truststore = init["truststore"]
        assert truststore["image"] == f"{repository}:{spec.AIRBYTE_APP_VERSION}"
        assert 'keytool" -importcert -noprompt -alias platform-ca' in truststore["command"][2]
        assert f"-file {spec.CA_DIR}/ca.crt" in truststore["command"][2]
        for container in init.values():
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
            assert container["securityContext"]["runAsUser"] == spec.AIRBYTE_UID
            assert container["resources"]["limits"]["memory"]
            assert {m["name"] for m in container["volumeMounts"]} <= {v["name"] for v in part["extraVolumes"]}
        assert {m["name"] for m in part["extraVolumeMounts"]} <= {v["name"] for v in part["extraVolumes"]}
        assert {"name": "truststore", "mountPath": spec.TRUST_DIR, "readOnly": True} in part["extraVolumeMounts"]
        assert part["extraEnv"] == [{"name": "JAVA_TOOL_OPTIONS", "value": spec.JAVA_TOOL_OPTIONS}]
        assert f"-Djavax.net.ssl.trustStore={spec.TRUST_DIR}/cacerts" in spec.JAVA_TOOL_OPTIONS


def test_airbyte_database_connection_is_verify_full(recording):
    database = one_release(recording)["values"]["global"]["database"]
    name, _, parameters = database["database"].partition("?")
    assert name == "airbyte"
    rds = recording.stack == "prod"
    ca_file = f"{spec.DB_CA_DIR}/rds-ca.pem" if rds else f"{spec.CA_DIR}/ca.crt"
    assert parameters == f"sslmode=verify-full&sslrootcert={ca_file}"
    # The chart joins host, port and name into DATABASE_URL: jdbc:postgresql://<host>:<port>/<name>.
    url = f"jdbc:postgresql://{database['host']}:{database['port']}/{database['database']}"
    assert url.endswith("/airbyte?sslmode=verify-full&sslrootcert=" + ca_file)
    for component in ("server", "worker", "workload-api-server", "cron", "airbyte-bootloader", "workload-launcher"):
        part = one_release(recording)["values"][component]
        mounted = {m["mountPath"] for m in part["extraVolumeMounts"]}
        assert ca_file.rsplit("/", 1)[0] in mounted, component
        init = [c["name"] for c in part["extraInitContainers"]]
        assert init == (["rds-ca", "truststore"] if rds else ["truststore"]), component
        if rds:
            (copy,) = [c for c in part["extraInitContainers"] if c["name"] == "rds-ca"]
            assert copy["command"] == ["cp", "/etc/dataplatform/rds-global-bundle.pem", ca_file]
            assert copy["image"].startswith("ghcr.io/dataplatform/migrations:")


def one_release(recording) -> dict:
    (release,) = recording.of_type("kubernetes:helm.sh/v3:Release")
    return release.inputs


def test_credentials_are_secret_inputs_only(recording):
    secrets = {resource.name: resource for resource in recording.of_type("kubernetes:core/v1:Secret")}
    assert sorted(secrets) == ["ingestion-auth-secret", "ingestion-config-secret"]
    for secret in secrets.values():
        assert is_secret(secret.inputs["stringData"])
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
    assert sorted(alerts) == ["AirbyteServerDown", "AirbyteSyncFailures"]
    assert [rule["record"] for rule in group["rules"] if "record" in rule] == [spec.SYNC_FAILURES]
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
    assert unwrap_secret(source.inputs["secret_configuration"]) == {"password": "pg-secret-value"}
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
