"""The runtime's Helm releases as typed specs: one function per shared service, pure (no resources).

Each returns a `ProductRelease` whose fragment holds only what the product needs beyond the hardening that
`components/kit/release.py` applies at the chart's recorded paths. Secrets are referenced by the names of
Kubernetes Secrets the runtime creates (never values); every endpoint serves TLS from a cert-manager
certificate; every Service stays ClusterIP. tests/golden/releases/ keeps the rendered values per stack.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from components.kit.cluster import LOG_SHIPPER_SECRET
from components.kit.hardening import LARGE, MEDIUM, SMALL, container_security, pod_security
from components.kit.images import pinned_tag
from components.kit.release import Hardening, ProductRelease, ServerCertificate
from components.logs import shipping as logshipping
from components.runtime import prometheus_front
from components.runtime.config import AlertingSettings, KubernetesConfig
from infra.model.naming import MINIO_AUDIT_TAG, namespace_name, service_host

# Kubernetes Secret names the runtime creates and the releases reference.
MINIO_ROOT_SECRET = "minio-root"
MINIO_KMS_SECRET = "minio-kms"
MINIO_CA_SECRET = "platform-ca-bundle"
# The dev object store's server: SILO, the maintained fork of the MinIO server (decision 0022). Its classic image
# keeps the shell the chart's command needs (`/bin/sh -ce "docker-entrypoint.sh minio server ..."`; the entrypoint
# runs `silo` for `minio`) and bundles the `mc` client; the `-distroless` tags have neither. Published 2026-09-16
# (silo.pgsty.com/blog/release/silo-20260916/); the release before it, RELEASE.2026-09-03T13-18-01Z, is the
# fallback.
MINIO_IMAGE_REPOSITORY = "docker.io/pgsty/silo"
MINIO_IMAGE_TAG = "RELEASE.2026-09-16T00-00-00Z"
# ConfigMap (key `ca.crt`) in `dp-monitoring` holding the stack's CA, which Prometheus verifies Alertmanager with.
MONITORING_CA_CONFIG_MAP = "platform-ca"
MONITORING_CA_KEY = "ca.crt"
# Secret in `dp-monitoring` holding the installed Alertmanager's configuration (components/runtime/alerting.py),
# under this key: the chart's own configuration Secret is then not rendered.
ALERTMANAGER_CONFIG_SECRET = "alertmanager-config"
ALERTMANAGER_CONFIG_KEY = "alertmanager.yaml"
# The shared services' server certificates, by service.
TLS_SECRETS = {
    "minio": ServerCertificate("storage", "minio-tls", ("minio", service_host("minio", "storage"))),
    "prometheus": ServerCertificate("monitoring", "prometheus-tls",
                                    ("prometheus-prometheus", service_host("prometheus-prometheus", "monitoring"))),
    "alertmanager": ServerCertificate("monitoring", "alertmanager-tls",
                                      ("prometheus-alertmanager",
                                       service_host("prometheus-alertmanager", "monitoring"))),
    "log-shipper": ServerCertificate("logs", "log-shipper-tls", ("fluent-bit", service_host("fluent-bit", "logs"))),
}
ELASTICSEARCH_HOST = logshipping.ELASTICSEARCH_HOST
LOG_SHIPPER_AUDIT_PORT = logshipping.AUDIT_PORT
LOG_SHIPPER_METRICS_PORT = 2020
LOG_SHIPPER_LOG_METRICS_PORT = logshipping.LOG_METRICS_PORT
# Release names other layers wait for: the logs layer's Elasticsearch needs the ECK operator's CRD and operator, and
# the monitors need the Prometheus Operator's CRDs.
ECK_RELEASE = "elastic-operator"
PROMETHEUS_RELEASE = "prometheus"
# Releases that render custom resources of another release's CRDs, and so wait for it: eck-operator renders a
# ServiceMonitor for its secure metrics (`config.metrics.secureMode`), whose CRD kube-prometheus-stack installs.
WAITS_FOR: dict[str, tuple[str, ...]] = {ECK_RELEASE: (PROMETHEUS_RELEASE,)}


def chart_image(repository: str, tag: str, registry: str = "") -> dict[str, str]:
    """A chart's `image` values object naming the image the chart runs by default at its pinned version, so that the
    vendor image lock lists it and, once the lock has its digest, the chart renders `repository:tag@sha256:...`
    (every chart here joins repository and tag with `:`). tests/infra/render/test_render_images.py renders each chart
    without these objects and requires the same images: a moved chart pin fails until they move with it."""
    image = {"repository": repository, "tag": pinned_tag(f"{registry}/{repository}" if registry else repository, tag)}
    return {"registry": registry, **image} if registry else image


# The images each runtime chart runs by default at its pinned version (infra/model/charts.py): (registry, repository,
# tag), the registry apart where the chart's image values keep it apart. Pinned from the lock when a release is built.
CERT_MANAGER_TAG = "v1.21.1"
ECK_OPERATOR = ("", "docker.elastic.co/eck/eck-operator", "3.5.0")
CNPG_OPERATOR = ("", "ghcr.io/cloudnative-pg/cloudnative-pg", "1.30.0")  # chart 0.29.0's appVersion
PROMETHEUS_OPERATOR = ("quay.io", "prometheus-operator/prometheus-operator", "v0.93.1")
CONFIG_RELOADER = ("quay.io", "prometheus-operator/prometheus-config-reloader", "v0.93.1")
PROMETHEUS = ("quay.io", "prometheus/prometheus", "v3.14.0-distroless")
ALERTMANAGER = ("quay.io", "prometheus/alertmanager", "v0.34.0")
KUBE_STATE_METRICS = ("registry.k8s.io", "kube-state-metrics/kube-state-metrics", "v2.20.0")
FLUENT_BIT = ("", "cr.fluentbit.io/fluent/fluent-bit", "5.1.1")


def default_image(image: tuple[str, str, str]) -> dict[str, str]:
    registry, repository, tag = image
    return chart_image(repository, tag, registry)


def cert_manager_image(component: str) -> dict[str, str]:
    return chart_image(f"quay.io/jetstack/cert-manager-{component}", CERT_MANAGER_TAG)


def cert_manager(config: KubernetesConfig) -> ProductRelease:
    return ProductRelease(
        name="cert-manager",
        chart="cert-manager",
        layer="system",
        values={
            "fullnameOverride": "cert-manager",
            "crds": {"enabled": True, "keep": True},
            "replicaCount": config.replicas,
            "image": cert_manager_image("controller"),
            "webhook": {"replicaCount": config.replicas, "image": cert_manager_image("webhook")},
            "cainjector": {"replicaCount": 1, "image": cert_manager_image("cainjector")},
            "startupapicheck": {"image": cert_manager_image("startupapicheck")},
            "prometheus": {"enabled": True, "servicemonitor": {"enabled": False}},
        },
        hardening=Hardening(resources=SMALL),
    )


def cloudnative_pg(config: KubernetesConfig) -> ProductRelease:
    return ProductRelease(
        name="cloudnative-pg",
        chart="cloudnative-pg",
        layer="system",
        values={
            "fullnameOverride": "cloudnative-pg",
            "replicaCount": config.replicas,
            "image": default_image(CNPG_OPERATOR),
            "crds": {"create": True},
            "monitoring": {"podMonitorEnabled": False},
        },
        hardening=Hardening(resources=SMALL),
    )


def eck_operator(config: KubernetesConfig) -> ProductRelease:
    return ProductRelease(
        name=ECK_RELEASE,
        chart="eck-operator",
        layer="system",
        values={
            "replicaCount": 1,
            "image": default_image(ECK_OPERATOR),
            "installCRDs": True,
            "managedNamespaces": [namespace_name("logs")],
            "config": {"metrics": {"port": "8080", "secureMode": {"enabled": True}}},
            "telemetry": {"disabled": True},
        },
        hardening=Hardening(resources=MEDIUM),
    )


def minio(config: KubernetesConfig) -> ProductRelease:
    tls_secret = TLS_SECRETS["minio"].secret
    audit = f"https://{service_host('fluent-bit', 'logs')}:{LOG_SHIPPER_AUDIT_PORT}/{MINIO_AUDIT_TAG}"
    persistence: dict[str, Any] = {"enabled": True, "size": f"{config.minio_volume_gib}Gi"}
    if config.storage_class:
        persistence["storageClass"] = config.storage_class
    minio_image = {"repository": MINIO_IMAGE_REPOSITORY, "tag": pinned_tag(MINIO_IMAGE_REPOSITORY, MINIO_IMAGE_TAG)}
    return ProductRelease(
        name="minio",
        chart="minio",
        layer="storage",
        values={
            "fullnameOverride": "minio",
            # The maintained server build, for the chart's server and its client jobs alike.
            "image": minio_image,
            "mcImage": minio_image,
            "mode": "standalone",
            "replicas": 1,
            # One pod on a ReadWriteOnce volume: the old pod stops before the new one opens the data.
            "deploymentUpdate": {"type": "Recreate"},
            "existingSecret": MINIO_ROOT_SECRET,
            "extraSecret": MINIO_KMS_SECRET,
            "tls": {"enabled": True, "certSecret": tls_secret, "publicCrt": "tls.crt", "privateKey": "tls.key"},
            "trustedCertsSecret": MINIO_CA_SECRET,
            "persistence": persistence,
            # The image's HOME is /tmp; the root filesystem is read-only.
            "extraVolumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
            "extraVolumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
            "environment": {
                "MINIO_BROWSER": "off",
                "MINIO_AUDIT_WEBHOOK_ENABLE_shipper": "on",
                "MINIO_AUDIT_WEBHOOK_ENDPOINT_shipper": audit,
            },
            "metrics": {"serviceMonitor": {"enabled": False}},
            "buckets": [],
            "users": [],
            "policies": [],
            "svcaccts": [],
        },
        hardening=Hardening(
            pod={**pod_security(run_as_user=1000, fs_group=1000), "enabled": True},
            resources=LARGE,
        ),
    )


def kube_prometheus_stack(config: KubernetesConfig, issuer: str, alerting: AlertingSettings,
                          label_allowlist: Sequence[str] = ()) -> ProductRelease:
    """Prometheus, its operator, kube-state-metrics and (where installed) Alertmanager; `label_allowlist`: the
    object labels kube-state-metrics exports (`<resource>=[<label>,...]`, what the alerts join on)."""
    prometheus_tls = TLS_SECRETS["prometheus"].secret
    alertmanager_tls = TLS_SECRETS["alertmanager"].secret

    def web_tls(secret: str) -> dict[str, Any]:
        return {
            "tlsConfig": {
                "cert": {"secret": {"name": secret, "key": "tls.crt"}},
                "keySecret": {"name": secret, "key": "tls.key"},
            }
        }

    storage: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "20Gi"}}}
    if config.storage_class:
        storage["storageClassName"] = config.storage_class
    # Scrape every ServiceMonitor, PodMonitor and rule in the cluster, not only those labelled for this release.
    selectors = {
        "serviceMonitorSelectorNilUsesHelmValues": False,
        "podMonitorSelectorNilUsesHelmValues": False,
        "ruleSelectorNilUsesHelmValues": False,
    }
    prometheus_spec: dict[str, Any] = {
        # The chart takes the version the operator configures for from the tag unless it is set; the
        # tag carries the digest once the lock has it.
        "image": default_image(PROMETHEUS),
        "version": PROMETHEUS[2],
        "replicas": config.replicas,
        "retention": f"{config.prometheus_retention_days}d",
        "web": web_tls(prometheus_tls),
        "storageSpec": {"volumeClaimTemplate": {"spec": storage}},
        **selectors,
    }
    prometheus: dict[str, Any] = {"serviceMonitor": {"selfMonitor": False}, "prometheusSpec": prometheus_spec}
    if config.prometheus_readers:
        # The readers' authenticating TLS front (components/runtime/prometheus_front.py), a container of Prometheus's
        # pod, and its port on Prometheus's Service.
        prometheus_spec["containers"] = [prometheus_front.container()]
        prometheus_spec["volumes"] = prometheus_front.volumes(prometheus_tls, MONITORING_CA_CONFIG_MAP,
                                                              MONITORING_CA_KEY)
        prometheus["service"] = {"additionalPorts": [prometheus_front.service_port()]}
    return ProductRelease(
        name=PROMETHEUS_RELEASE,
        chart="kube-prometheus-stack",
        layer="monitoring",
        values={
            "fullnameOverride": "prometheus",
            "crds": {"enabled": True},
            "defaultRules": {"create": False},
            "grafana": {"enabled": False},
            # The object labels alerts join on (components/monitoring/inventory.py ALLOWED_LABELS): exported on
            # `kube_<resource>_labels` only when listed (the subchart's templates/deployment.yaml passes them as
            # `--metric-labels-allowlist`).
            "kube-state-metrics": {"image": default_image(KUBE_STATE_METRICS),
                                   **({"metricLabelsAllowlist": list(label_allowlist)} if label_allowlist else {})},
            "nodeExporter": {"enabled": False},
            "kubeControllerManager": {"enabled": False},
            "kubeScheduler": {"enabled": False},
            "kubeEtcd": {"enabled": False},
            "kubeProxy": {"enabled": False},
            "prometheusOperator": {
                "image": default_image(PROMETHEUS_OPERATOR),
                # The operator adds this reloader to every Prometheus and Alertmanager pod.
                "prometheusConfigReloader": {"image": default_image(CONFIG_RELOADER)},
                "tls": {"enabled": True},
                "admissionWebhooks": {
                    "certManager": {"enabled": True, "issuerRef": {"name": issuer, "kind": "ClusterIssuer"}},
                },
                "serviceMonitor": {"selfMonitor": True},
            },
            "prometheus": prometheus,
            "alertmanager": {
                "enabled": config.alertmanager == "install",
                "serviceMonitor": {"selfMonitor": False},
                "alertmanagerSpec": {
                    "image": default_image(ALERTMANAGER),
                    "version": ALERTMANAGER[2],
                    "replicas": config.replicas,
                    "web": web_tls(alertmanager_tls),
                    # How Prometheus reaches it (the chart's alerting endpoint, templates/prometheus/prometheus.yaml):
                    # its web server serves HTTPS only, with a certificate for its Service's names.
                    "scheme": "https",
                    "tlsConfig": {
                        "ca": {"configMap": {"name": MONITORING_CA_CONFIG_MAP, "key": MONITORING_CA_KEY}},
                        "serverName": service_host("prometheus-alertmanager", "monitoring"),
                    },
                    # The configuration is the program's Secret (receivers, routes, inhibitions from the stack
                    # config), not the chart's, which sends everything to a receiver named "null".
                    "useExistingSecret": True,
                    "configSecret": ALERTMANAGER_CONFIG_SECRET,
                    # Receivers whose certificate the stack's CA signs read it from here.
                    **({"configMaps": [MONITORING_CA_CONFIG_MAP]} if alerting.uses_platform_ca else {}),
                },
            },
        },
        hardening=Hardening(pod=pod_security(run_as_user=1000, fs_group=2000), resources=LARGE),
    )


def fluent_bit(config: KubernetesConfig, sources: Sequence[logshipping.LogSource],
               lake: logshipping.LakeLogs | None = None,
               lake_pod: Mapping[str, Sequence[dict[str, Any]]] | None = None) -> ProductRelease:
    """The log shipper; its pipeline (inputs, parsers, routes to indices) is components/logs/shipping.py's,
    rendered for the products' log sources; with `lake`, it also writes them to the lake's `logs` layer, its pods
    taking `lake_pod` (`envFrom`, `env`, `volumes`, `volumeMounts`: the credentials, token and buffer the platform
    gives from components/logs/lake.py)."""
    tls_secret = TLS_SECRETS["log-shipper"].secret
    if (lake is None) != (lake_pod is None):
        raise ValueError("the log shipper writes the lake's logs layer with both its target and its pods' additions")
    to_lake = lake_pod if lake_pod is not None else {"envFrom": [], "env": [], "volumes": [], "volumeMounts": []}

    def secret_env(name: str, key: str) -> dict[str, Any]:
        return {"name": name, "valueFrom": {"secretKeyRef": {"name": LOG_SHIPPER_SECRET, "key": key}}}

    return ProductRelease(
        name="fluent-bit",
        chart="fluent-bit",
        layer="logs",
        values={
            "fullnameOverride": "fluent-bit",
            "kind": "DaemonSet",
            "image": default_image(FLUENT_BIT),
            "testFramework": {"enabled": False},
            "metricsPort": LOG_SHIPPER_METRICS_PORT,
            "env": [secret_env("ES_USER", "username"), secret_env("ES_PASSWORD", "password"), *to_lake["env"]],
            **({"envFrom": to_lake["envFrom"]} if to_lake["envFrom"] else {}),
            "extraPorts": [
                {"name": "audit", "port": LOG_SHIPPER_AUDIT_PORT, "containerPort": LOG_SHIPPER_AUDIT_PORT,
                 "protocol": "TCP"},
                # The prometheus_exporter output: series derived from logs (the log sources' metrics); the Service
                # carries it too, for the runtime's ServiceMonitor.
                {"name": logshipping.LOG_METRICS_ENDPOINT, "port": LOG_SHIPPER_LOG_METRICS_PORT,
                 "containerPort": LOG_SHIPPER_LOG_METRICS_PORT, "protocol": "TCP"},
            ],
            # Besides the chart's /var/log mounts: pods' emptyDir volumes, where Dremio writes queries.json.
            "extraVolumes": [
                {"name": "tls", "secret": {"secretName": tls_secret}},
                {"name": "state", "emptyDir": {}},
                {"name": "kubelet-pods", "hostPath": {"path": logshipping.KUBELET_PODS, "type": "Directory"}},
                *to_lake["volumes"],
            ],
            "extraVolumeMounts": [
                {"name": "tls", "mountPath": logshipping.TLS_DIR, "readOnly": True},
                {"name": "state", "mountPath": logshipping.STATE_DIR},
                {"name": "kubelet-pods", "mountPath": logshipping.KUBELET_PODS, "readOnly": True},
                *to_lake["volumeMounts"],
            ],
            "config": logshipping.render(sources, lake),
            # Mounted by the chart at /fluent-bit/scripts (logshipping.LUA_DIR); the chart passes each through `tpl`,
            # so the scripts hold no `{{`.
            "luaScripts": logshipping.lua_scripts(sources),
        },
        # Node log files are root-owned (0640): the shipper reads them as uid 0, with every capability
        # dropped and a read-only root filesystem. A documented exception (docs/runtime.md).
        hardening=Hardening(
            pod=pod_security(run_as_user=0, run_as_non_root=False),
            container=container_security(run_as_user=0, run_as_non_root=False),
            resources=SMALL,
        ),
    )
