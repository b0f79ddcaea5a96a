"""KubernetesRuntime and Monitoring declare the base per stack, keep secrets out of plain inputs, and feed DataLake."""

from __future__ import annotations

import json

from components.kit.images import image_references
from components.runtime.trust_bundle import TrustBundleProvider, default_path
from infra.model.naming import LAYER_NAMESPACES
from infra.offline.harness import SECRET_SENTINEL_PREFIX, is_secret, unwrap_secret

RELEASE = "kubernetes:helm.sh/v3:Release"
# The runtime's releases plus the products' own (Airbyte from the ingestion layer, Superset from presentation).
DEV_RELEASES = ["airbyte", "cert-manager", "cloudnative-pg", "elastic-operator", "elasticsearch-exporter",
                "fluent-bit", "minio", "plugin-barman-cloud", "prometheus", "redis"]
PROD_RELEASES = ["airbyte", "elastic-operator", "elasticsearch-exporter", "fluent-bit", "prometheus", "redis"]


def releases(recording) -> dict:
    return {r.inputs["name"]: r for r in recording.of_type(RELEASE)}


def test_release_inventory_per_stack(dev, prod):
    assert sorted(releases(dev)) == DEV_RELEASES
    assert sorted(releases(prod)) == PROD_RELEASES


def test_a_restricted_namespace_per_layer(dev):
    namespaces = {
        r.inputs["metadata"]["name"]: r.inputs["metadata"] for r in dev.of_type("kubernetes:core/v1:Namespace")
    }
    assert sorted(namespaces) == sorted(f"dp-{layer}" for layer in LAYER_NAMESPACES)
    levels = {name: meta["labels"]["pod-security.kubernetes.io/enforce"] for name, meta in namespaces.items()}
    assert {name for name, level in levels.items() if level != "restricted"} == {"dp-logs"}
    # The exemption is listed in the stack's policy config; the namespace claims none itself.
    assert not any("dataplatform/policy-exemptions" in (meta.get("annotations") or {}) for meta in namespaces.values())


def test_every_release_waits_for_its_namespace(dev):
    namespaces = {r.urn for r in dev.of_type("kubernetes:core/v1:Namespace")}
    for release in dev.of_type(RELEASE):
        assert set(release.property_dependencies["namespace"]) & namespaces, release.name


def test_the_eck_operator_and_its_elasticsearch_wait_for_the_crds_they_use(dev, prod):
    """eck-operator renders a ServiceMonitor (kube-prometheus-stack's CRD); the Elasticsearch resource needs ECK's
    CRD and operator. The render stage proves the same with the charts (tests/infra/render)."""
    for recording in (dev, prod):
        by_name = releases(recording)
        assert by_name["prometheus"].urn in by_name["elastic-operator"].dependencies
        (elasticsearch,) = [r for r in recording.resources if r.inputs.get("kind") == "Elasticsearch"]
        assert by_name["elastic-operator"].urn in elasticsearch.dependencies


def test_prometheus_sends_alerts_over_https_verified_with_the_stack_ca(dev, prod):
    for recording in (dev, prod):
        prometheus = releases(recording)["prometheus"]
        spec = prometheus.inputs["values"]["alertmanager"]["alertmanagerSpec"]
        assert spec["scheme"] == "https"
        assert spec["tlsConfig"]["serverName"] == "prometheus-alertmanager.dp-monitoring.svc.cluster.local"
        (ca,) = [r for r in recording.of_type("kubernetes:core/v1:ConfigMap")
                 if r.inputs["metadata"] == {"name": "platform-ca", "namespace": "dp-monitoring"}]
        assert spec["tlsConfig"]["ca"]["configMap"] == {"name": "platform-ca", "key": "ca.crt"}
        assert ca.inputs["data"]["ca.crt"].startswith("-----BEGIN CERTIFICATE-----")
        assert ca.urn in prometheus.dependencies
    (bundle,) = prod.of_type("pulumi-python:dynamic/runtime:TrustBundleFile")
    (ca,) = [r for r in prod.of_type("kubernetes:core/v1:ConfigMap") if r.inputs["metadata"]["name"] == "platform-ca"
             and r.inputs["metadata"]["namespace"] == "dp-monitoring"]
    assert ca.inputs["data"]["ca.crt"] == bundle.inputs["pem"]


def test_dev_generates_its_ca_and_prod_takes_the_organisation_issuer(dev, prod):
    issuers = [r for r in dev.resources if r.inputs.get("kind") == "ClusterIssuer"]
    assert [i.inputs["metadata"]["name"] for i in issuers] == ["dataplatform-dev-ca"]
    assert dev.of_type("tls:index/selfSignedCert:SelfSignedCert")
    assert not prod.of_type("tls:index/selfSignedCert:SelfSignedCert")
    certificates = [r for r in prod.resources if r.inputs.get("kind") == "Certificate"]
    assert {c.inputs["spec"]["issuerRef"]["name"] for c in certificates} == {"organisation-ca"}
    (bundle,) = prod.of_type("pulumi-python:dynamic/runtime:TrustBundleFile")
    assert bundle.inputs["pem"].startswith("-----BEGIN CERTIFICATE-----")


def test_no_generated_secret_reaches_a_plain_input(dev, prod):
    for recording in (dev, prod):
        for resource in recording.resources:
            if resource.type.startswith("random:") or resource.type.startswith("tls:"):
                continue
            plain = {key: value for key, value in resource.inputs.items() if not is_secret(value)}
            if resource.type == "kubernetes:core/v1:Secret" and SECRET_SENTINEL_PREFIX in json.dumps(resource.inputs):
                assert is_secret(resource.inputs["stringData"]), resource.name
            assert SECRET_SENTINEL_PREFIX not in json.dumps(plain), resource.name


def test_dev_lake_uses_the_runtime_minio(dev):
    (provider,) = dev.of_type("pulumi:providers:minio")
    assert provider.inputs["minioCacertFile"] == default_path("dev")
    assert provider.inputs["minioUser"] == "dataplatform-dev-root"
    minio = releases(dev)["minio"]
    assert minio.urn in provider.property_dependencies["minioUser"]
    (kms,) = [r for r in dev.of_type("kubernetes:core/v1:Secret") if r.inputs["metadata"]["name"] == "minio-kms"]
    assert is_secret(kms.inputs["stringData"])
    environment = unwrap_secret(kms.inputs["stringData"])["config.env"]
    assert environment.startswith("export MINIO_KMS_SECRET_KEY=dataplatform-dev-sse:")


def test_monitoring_scrapes_base_services_and_alerts_with_runbooks(dev, prod):
    monitors = {r.inputs["metadata"]["name"] for r in dev.resources
                if r.inputs.get("kind") in ("ServiceMonitor", "PodMonitor")}
    assert monitors == {"cert-manager", "cloudnative-pg", "elasticsearch-exporter", "fluent-bit",
                        "fluent-bit-log-metrics", "metadata-postgresql", "minio"}
    (cert_manager,) = [r for r in dev.resources if r.inputs.get("kind") == "ServiceMonitor"
                       and r.inputs["metadata"]["name"] == "cert-manager"]
    assert cert_manager.inputs["spec"]["endpoints"][0]["port"] == "http-metrics"
    # prod's cluster runs cert-manager: the stack declares no monitor for a Service it does not install.
    assert {r.inputs["metadata"]["name"] for r in prod.resources
            if r.inputs.get("kind") in ("ServiceMonitor", "PodMonitor")} == {"elasticsearch-exporter", "fluent-bit",
                                                                             "fluent-bit-log-metrics"}
    (rules,) = [r for r in prod.resources if r.inputs.get("kind") == "PrometheusRule"
                and r.inputs["metadata"]["name"] == "dataplatform-base"]
    alerts = rules.inputs["spec"]["groups"][0]["rules"]
    assert {"DataPlatformVolumeNearlyFull", "DataPlatformCertificateExpiresSoon"} <= {a["alert"] for a in alerts}
    # prod delivers alerts, so its links open from a mail: the stack's `alerting.runbookBaseUrl` comes first.
    base = "https://git.example.com/data-platform/dataplatform/blob/main/"
    assert all(a["annotations"]["runbook_url"] == f"{base}docs/runtime.md#{a['alert'].lower()}" for a in alerts)


def test_trust_bundle_provider_writes_and_removes_the_file(tmp_path):
    path = str(tmp_path / "stack" / "ca.pem")
    provider = TrustBundleProvider()
    provider.create({"path": path, "pem": "-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----"})
    assert (tmp_path / "stack" / "ca.pem").read_text().endswith("-----END CERTIFICATE-----\n")
    provider.delete(path, {"path": path})
    assert not (tmp_path / "stack" / "ca.pem").exists()


def test_images_are_pinned_from_the_lock_file(tmp_path):
    lock = tmp_path / "lock.json"
    lock.write_text(json.dumps({
        "superset": {"repository": "ghcr.io/o/superset", "tag": "6.1.0", "digest": ""},
        "dbt-runner": {"repository": "ghcr.io/o/dbt-runner", "tag": "1.11", "digest": "sha256:" + "a" * 64},
    }))
    assert image_references(lock) == {
        "dbt-runner": "ghcr.io/o/dbt-runner:1.11@sha256:" + "a" * 64,
        "superset": "ghcr.io/o/superset:6.1.0",
    }
    assert set(image_references()) == {"superset", "dbt-runner", "migrations"}



def test_log_shipper_service_account_carries_no_role_annotation(dev, prod):
    """Fluent Bit's service account is trusted by two roles on S3 (the log shipper's own and the lake's put-only
    writer) and annotated with neither: the lake writer's ARN comes from its Secret (components/logs/lake.py), and the
    pod identity webhook's `env` entry would win over that `envFrom` and hand Fluent Bit the other role."""
    for recording in (dev, prod):
        (release,) = [r for r in recording.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "fluent-bit"]
        assert "annotations" not in (unwrap_secret(release.inputs["values"]).get("serviceAccount") or {})
