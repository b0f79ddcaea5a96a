"""The charts the program releases: repository, pinned version, and where each keeps its hardening settings.

`components/kit/release.py` pins every release to its entry here and sets the hardening at the recorded paths. The
policy pack cannot see pods a chart renders until the real provider renders them, so it checks a release's
`values` at the same paths; it reads them as data from its per-stack config (`policies/config/<stack>.json`),
which `make policy-config` generates from this table (`infra/offline/policy_config.py`), and a test fails when the
committed config drifts from it (docs/decisions/0015-self-contained-pack.md). Paths are dotted keys into the
chart's values.yaml of the pinned version (docs/decisions/0006-chart-api.md); a chart that is not listed can be
neither released nor judged.

Each pinned chart's package digest is recorded in `charts.lock.json` beside this file, which `make chart-lock`
(infra/offline/chart_lock.py) writes and tests/infra/test_chart_lock.py holds to these pins (docs/locks.md).

Each pin also says where the chart's public source lies (`ChartSource`), or why it has none here: the render stage's
chart cache (`infra/offline/render/cache.py`, docs/render.md) is built from these when no chart repository is
reachable. A chart built from its source is a stand-in for the published package, never hashed into a lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOCK_FILE = Path(__file__).with_name("charts.lock.json")


@dataclass(frozen=True)
class TlsSwitch:
    """A values path that turns TLS on, and what it must hold: `equals` a value, or `contains` a text (spaces
    collapsed, for a chart's raw config), or, with neither, anything present and not empty."""

    path: str
    equals: bool | None = None
    contains: str | None = None

    def to_config(self) -> dict[str, Any]:
        if self.equals is not None:
            return {"path": self.path, "equals": self.equals}
        if self.contains is not None:
            return {"path": self.path, "contains": self.contains}
        return {"path": self.path, "set": True}


@dataclass(frozen=True)
class SourcePath:
    """A chart in a public git repository: `path` at `ref` is a chart directory or a packaged `.tgz`."""

    repo: str
    """GitHub `owner/name`."""
    ref: str
    """Tag or commit holding the pinned version."""
    path: str


@dataclass(frozen=True)
class ChartSource:
    """Where the pinned chart's source lies, and what a source checkout lacks that the published package has."""

    chart: SourcePath
    subcharts: tuple[SourcePath, ...] = ()
    """Dependencies that are not in the chart's own tree, copied to `charts/<directory name>`."""
    chart_yaml: tuple[tuple[str, str], ...] = ()
    """Top-level Chart.yaml fields the release process sets (cert-manager templates its version at release)."""
    crd_values: tuple[tuple[str, Any], ...] = ()
    """Values that make the chart render the CRDs it ships, for a stack that uses them without releasing it."""


@dataclass(frozen=True)
class ChartPaths:
    chart: str
    version: str
    repository: str
    pages: str = ""
    """`owner/name@branch`: the public git repository and branch whose tree the chart repository serves as web
    pages (index.yaml at its root), so that `make chart-lock` can read the index from a clone where the repository
    is unreachable; empty where the repository is served otherwise."""
    pod_security: tuple[str, ...] = ()
    """Pod securityContext objects (runAsNonRoot, seccompProfile)."""
    container_security: tuple[str, ...] = ()
    """Container securityContext objects (no privilege escalation, all capabilities dropped, read-only root)."""
    resources: tuple[str, ...] = ()
    """Resource requirement objects (requests and limits)."""
    service_types: tuple[str, ...] = ()
    """Service `type` values (no LoadBalancer)."""
    tls: tuple[TlsSwitch, ...] = ()
    """The switches that turn TLS on."""
    plaintext_secrets: tuple[str, ...] = ()
    """Values that would hold a secret in plain text; they must stay empty (use the existing-Secret path)."""
    images: tuple[str, ...] = ()
    """Image objects ({repository, tag, digest}) the values may override."""
    source: ChartSource | None = None
    """The chart's public source, for the render stage's cache when the repository is unreachable."""
    no_source: str = ""
    """Why no source is recorded (exactly one of `source` and `no_source` is set)."""

    def hardening_facts(self) -> dict[str, list[Any]]:
        """Every recorded path, under the names the pack's `charts` settings use."""
        return {
            "podSecurity": list(self.pod_security),
            "containerSecurity": list(self.container_security),
            "resources": list(self.resources),
            "serviceTypes": list(self.service_types),
            "tls": [switch.to_config() for switch in self.tls],
            "plaintextSecrets": list(self.plaintext_secrets),
            "images": list(self.images),
        }


# The Airbyte chart V2's components that run pods, by their values key (webapp, manifest server, metrics, Keycloak,
# Temporal UI and the bundled PostgreSQL and MinIO are switched off by the ingestion layer).
AIRBYTE_COMPONENTS = ("server", "worker", "workloadLauncher", "workloadApiServer", "cron", "airbyteBootloader",
                      "temporal")

CHARTS: dict[str, ChartPaths] = {
    paths.chart: paths
    for paths in (
        ChartPaths(
            chart="cert-manager",
            version="v1.21.1",
            repository="https://charts.jetstack.io",
            pod_security=("securityContext", "webhook.securityContext", "cainjector.securityContext",
                          "startupapicheck.securityContext"),
            container_security=("containerSecurityContext", "webhook.containerSecurityContext",
                                "cainjector.containerSecurityContext", "startupapicheck.containerSecurityContext"),
            resources=("resources", "webhook.resources", "cainjector.resources", "startupapicheck.resources"),
            images=("image", "webhook.image", "cainjector.image", "startupapicheck.image"),
            source=ChartSource(
                SourcePath("cert-manager/cert-manager", "v1.21.1", "deploy/charts/cert-manager"),
                chart_yaml=(("version", "v1.21.1"), ("appVersion", "v1.21.1")),
                crd_values=(("crds.enabled", True),),
            ),
        ),
        ChartPaths(
            chart="cloudnative-pg",
            version="0.29.0",
            repository="https://cloudnative-pg.github.io/charts",
            pages="cloudnative-pg/charts@gh-pages",
            pod_security=("podSecurityContext",),
            container_security=("containerSecurityContext",),
            resources=("resources",),
            service_types=("service.type",),
            images=("image",),
            # The Grafana dashboard subchart (alias `monitoring`) lives in cloudnative-pg/grafana-dashboards.
            source=ChartSource(
                SourcePath("cloudnative-pg/charts", "cloudnative-pg-v0.29.0", "charts/cloudnative-pg"),
                subcharts=(SourcePath("cloudnative-pg/grafana-dashboards", "cluster-v0.0.5", "charts/cluster"),),
            ),
        ),
        # cloudnative-pg/charts, chart plugin-barman-cloud 0.7.0 (the Barman Cloud plugin v0.13.0, tag
        # plugin-barman-cloud-v0.7.0); paths as in that tag's values.yaml. One Deployment and a ClusterIP Service
        # without a `type` value; the ObjectStore CRD is a template (`crds.create`). `image` and `sidecarImage` are
        # {registry, repository, tag}: the sidecar is the container the plugin adds to every PostgreSQL instance pod.
        ChartPaths(
            chart="plugin-barman-cloud",
            version="0.7.0",
            repository="https://cloudnative-pg.github.io/charts",
            pages="cloudnative-pg/charts@gh-pages",
            pod_security=("podSecurityContext",),
            container_security=("containerSecurityContext",),
            resources=("resources",),
            images=("image", "sidecarImage"),
            source=ChartSource(
                SourcePath("cloudnative-pg/charts", "plugin-barman-cloud-v0.7.0", "charts/plugin-barman-cloud"),
            ),
        ),
        ChartPaths(
            chart="eck-operator",
            version="3.5.0",
            repository="https://helm.elastic.co",
            pod_security=("podSecurityContext",),
            container_security=("securityContext",),
            resources=("resources",),
            tls=(TlsSwitch("config.metrics.secureMode.enabled", equals=True),),
            images=("image",),
            # Its CRDs come as the in-tree subchart eck-operator-crds (templates, condition `installCRDs`).
            source=ChartSource(SourcePath("elastic/cloud-on-k8s", "v3.5.0", "deploy/eck-operator")),
        ),
        ChartPaths(
            chart="minio",
            version="5.4.0",
            repository="https://charts.min.io/",
            pages="minio/minio@master",
            pod_security=("securityContext",),
            container_security=("containerSecurityContext",),
            resources=("resources",),
            service_types=("service.type", "consoleService.type"),
            tls=(TlsSwitch("tls.enabled", equals=True), TlsSwitch("tls.certSecret")),
            plaintext_secrets=("rootUser", "rootPassword"),
            images=("image", "mcImage"),
            # The commit "update helm release v5.4.0"; the repository was archived in 2026. The values run SILO's
            # image (docs/decisions/0022-dev-object-store-build.md); the same package (the locked digest) is also in
            # the index of SILO's former repository pgsty/minio, the way back if charts.min.io goes.
            source=ChartSource(
                SourcePath("minio/minio", "43a74029685512ce9b1b76c053d48b43fc8d64fc", "helm/minio"),
            ),
        ),
        # valkey-io/valkey-helm, chart valkey 0.11.0 (tag valkey-0.11.0); paths as in that tag's valkey/values.yaml.
        # One pod template for both modes (a Deployment standalone, a StatefulSet with replicas); its container
        # securityContext also applies to the init container that writes valkey.conf and the ACL file, which
        # `initResources` sizes. Passwords come from `auth.usersExistingSecret`; an inline ACL user password or
        # `auth.aclConfig` would land in a chart-made Secret from the values.
        ChartPaths(
            chart="valkey",
            version="0.11.0",
            repository="https://valkey.io/valkey-helm/",
            pages="valkey-io/valkey-helm@gh-pages",
            pod_security=("podSecurityContext",),
            container_security=("securityContext", "metrics.exporter.securityContext"),
            resources=("resources", "initResources", "metrics.exporter.resources"),
            service_types=("service.type", "replica.service.type", "metrics.service.type"),
            tls=(TlsSwitch("tls.enabled", equals=True), TlsSwitch("tls.existingSecret"),
                 TlsSwitch("auth.enabled", equals=True)),
            plaintext_secrets=("auth.aclUsers.default.password", "auth.aclConfig"),
            images=("image", "metrics.exporter.image"),
            source=ChartSource(SourcePath("valkey-io/valkey-helm", "valkey-0.11.0", "valkey")),
        ),
        ChartPaths(
            chart="kube-prometheus-stack",
            version="88.5.3",
            repository="https://prometheus-community.github.io/helm-charts",
            pages="prometheus-community/helm-charts@gh-pages",
            pod_security=("prometheusOperator.securityContext", "prometheus.prometheusSpec.securityContext",
                          "alertmanager.alertmanagerSpec.securityContext", "kube-state-metrics.securityContext"),
            container_security=("prometheusOperator.containerSecurityContext",
                                "kube-state-metrics.containerSecurityContext"),
            resources=("prometheusOperator.resources", "prometheus.prometheusSpec.resources",
                       "alertmanager.alertmanagerSpec.resources", "kube-state-metrics.resources"),
            service_types=("prometheus.service.type", "alertmanager.service.type", "prometheusOperator.service.type"),
            tls=(TlsSwitch("prometheusOperator.tls.enabled", equals=True),
                 TlsSwitch("prometheus.prometheusSpec.web.tlsConfig")),
            plaintext_secrets=("grafana.adminPassword",),
            images=("prometheusOperator.image", "prometheusOperator.prometheusConfigReloader.image",
                    "prometheus.prometheusSpec.image", "alertmanager.alertmanagerSpec.image",
                    "kube-state-metrics.image"),
            # The CRDs are the in-tree subchart `crds`; the other dependencies are charts of the same repository at
            # their own tags. grafana (grafana-community/helm-charts) and prometheus-windows-exporter (a version
            # range) are not copied: every stack's values switch them off, and the render stage reports a release
            # whose values enable a dependency the cache lacks.
            source=ChartSource(
                SourcePath("prometheus-community/helm-charts", "kube-prometheus-stack-88.5.3",
                           "charts/kube-prometheus-stack"),
                subcharts=(
                    SourcePath("prometheus-community/helm-charts", "kube-state-metrics-8.4.0",
                               "charts/kube-state-metrics"),
                    SourcePath("prometheus-community/helm-charts", "prometheus-node-exporter-4.56.1",
                               "charts/prometheus-node-exporter"),
                ),
            ),
        ),
        # prometheus-community/helm-charts, chart prometheus-elasticsearch-exporter 7.4.0 (the exporter v1.11.0, tag
        # prometheus-elasticsearch-exporter-7.4.0); paths as in that tag's values.yaml. One Deployment and a
        # ClusterIP Service. TLS to Elasticsearch: `es.ssl.enabled` passes `--es.ca`, `es.sslSkipVerify` would pass
        # `--es.ssl-skip-verify` (templates/deployment.yaml); a client key in the values lands in a chart-made
        # Secret (templates/cert-secret.yaml).
        ChartPaths(
            chart="prometheus-elasticsearch-exporter",
            version="7.4.0",
            repository="https://prometheus-community.github.io/helm-charts",
            pages="prometheus-community/helm-charts@gh-pages",
            pod_security=("podSecurityContext",),
            container_security=("securityContext",),
            resources=("resources",),
            service_types=("service.type",),
            tls=(TlsSwitch("es.uri", contains="https://"), TlsSwitch("es.ssl.enabled", equals=True),
                 TlsSwitch("es.ssl.ca.path"), TlsSwitch("es.sslSkipVerify", equals=False)),
            plaintext_secrets=("es.ssl.client.key",),
            images=("image",),
            source=ChartSource(SourcePath("prometheus-community/helm-charts", "prometheus-elasticsearch-exporter-7.4.0",
                                          "charts/prometheus-elasticsearch-exporter")),
        ),
        ChartPaths(
            chart="fluent-bit",
            version="0.58.1",
            repository="https://fluent.github.io/helm-charts",
            pages="fluent/helm-charts@gh-pages",
            pod_security=("podSecurityContext",),
            container_security=("securityContext",),
            resources=("resources",),
            service_types=("service.type",),
            # The classic config aligns values with spaces; the pack compares with whitespace collapsed.
            tls=(TlsSwitch("config.outputs", contains="tls On"), TlsSwitch("config.inputs", contains="tls On")),
            images=("image",),
            source=ChartSource(SourcePath("fluent/helm-charts", "fluent-bit-0.58.1", "charts/fluent-bit")),
        ),
        # Chart V2 as airbytehq/charts publishes it, airbyte-2.1.1 (app 2.1.1; sources in airbyte-platform's
        # charts/v2). Every path below is in that package's values.yaml: security contexts, resources and images per
        # component; Services of the server, the workload API server, Temporal and the (disabled) webapp. Airbyte
        # auth is judged by the ingestion policies (policies/ingestion.py), not here: it is not a TLS switch.
        ChartPaths(
            chart="airbyte",
            version="2.1.1",
            repository="https://airbytehq.github.io/charts",
            pages="airbytehq/charts@main",
            pod_security=tuple(f"{component}.podSecurityContext" for component in AIRBYTE_COMPONENTS),
            container_security=tuple(f"{component}.containerSecurityContext" for component in AIRBYTE_COMPONENTS),
            resources=tuple(f"{component}.resources" for component in AIRBYTE_COMPONENTS),
            service_types=("server.service.type", "workloadApiServer.service.type", "temporal.service.type",
                           "webapp.service.type"),
            plaintext_secrets=("global.database.password", "global.storage.minio.secretAccessKey",
                               "global.aws.assumeRole.secretAccessKey", "temporal.database.password",
                               "global.temporal.cloud.clientKey", "keycloak.auth.adminPassword"),
            images=tuple(f"{component}.image" for component in AIRBYTE_COMPONENTS),
            # The packaged chart as the commit "chore: release airbyte/airbyte 2.1.1" added it.
            source=ChartSource(
                SourcePath("airbytehq/charts", "2f78bfbb9b0989d43f81fcb10dba88021fdb9b7d", "airbyte-2.1.1.tgz"),
            ),
        ),
    )
}

