"""The one way to declare a product release: pinned chart, typed values fragment, namespace, hardening.

Example (the Barman Cloud plugin, components/metadata/backups.py)::

    spec = ProductRelease(
        name="plugin-barman-cloud", chart="plugin-barman-cloud", layer="system",
        values={"replicaCount": replicas, "crds": {"create": True}},   # a typed fragment, no copied blobs
        hardening=Hardening(resources=SMALL),
    )
    release = declare_release("metadata-backup-plugin", spec, cluster.namespaces["system"], opts)

The chart's repository and version come from `infra/model/charts.py`, the table the policy pack's config is generated
from, so a chart cannot be released without its hardening paths being recorded. The hardening goes to every path
the table lists for the chart; the product's fragment is merged over it, so any deviation (a product that
must run as root) is explicit in the fragment and visible to the pack in the release's `values`.
`helm.v3.Release` keeps chart hooks and registers as one resource whose `values` the pack checks
(docs/decisions/0006-chart-api.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.kit.hardening import MEDIUM, Resources, container_security, merge, pod_security, set_path
from infra.model.charts import CHARTS

RELEASE_TIMEOUT_SECONDS = 900


@dataclass(frozen=True)
class Hardening:
    """What every pod of a release gets unless the product's fragment says otherwise."""

    pod: dict[str, Any] = field(default_factory=pod_security)
    container: dict[str, Any] = field(default_factory=container_security)
    resources: Resources = MEDIUM
    extra: dict[str, Any] = field(default_factory=dict)
    """Chart-specific keys that must sit beside a security context (e.g. Bitnami's `enabled: true`)."""


@dataclass(frozen=True)
class ProductRelease:
    name: str
    """Helm release name; charts that allow it also get it as `fullnameOverride` so service names are stable."""
    chart: str
    """A chart of `infra/model/charts.py`; pins repository and version."""
    layer: str
    """Layer whose namespace the release goes to."""
    values: dict[str, Any]
    """The product's typed values fragment."""
    hardening: Hardening = field(default_factory=Hardening)
    deploy_time: dict[str, Any] = field(default_factory=dict)
    """Values known only at deploy time (Outputs such as an RDS host), set at dotted paths after the merge."""

    def rendered_values(self) -> dict[str, Any]:
        """Hardening at every recorded path of the chart, then the product's fragment over it."""
        paths = CHARTS[self.chart]
        hardened: dict[str, Any] = {}
        for path in paths.pod_security:
            set_path(hardened, path, {**self.hardening.extra, **self.hardening.pod})
        for path in paths.container_security:
            set_path(hardened, path, {**self.hardening.extra, **self.hardening.container})
        for path in paths.resources:
            set_path(hardened, path, self.hardening.resources.values())
        for path in paths.service_types:
            set_path(hardened, path, "ClusterIP")
        merged = merge(hardened, self.values)
        for path, value in self.deploy_time.items():
            *parents, leaf = path.split(".")
            target = merged
            for part in parents:
                target = target.setdefault(part, {})
            target[leaf] = value  # an Output cannot be copied, so it is placed as is
        return merged


@dataclass(frozen=True)
class ServerCertificate:
    """A cert-manager Certificate from the stack's CA: cert-manager writes tls.crt, tls.key and ca.crt into the
    Secret `secret` in `layer`'s namespace."""

    layer: str
    secret: str
    dns_names: tuple[str, ...]


@dataclass(frozen=True)
class HostedService:
    """A service a product has the runtime run for it, beside the shared services: its release, the server
    certificate it mounts, a generated password (in the Secret `password_secret` of the release's namespace,
    under `password_key`), and the endpoint its clients use. The runtime declares them all alike (its CA, its
    ordering after cert-manager), so the runtime knows no product's service."""

    name: str
    release: ProductRelease
    certificate: ServerCertificate
    password_secret: str
    password_key: str
    endpoint: str
    other_password_keys: tuple[str, ...] = ()
    """Further generated passwords in the same Secret, one per key (the service's own users: a probe, replication),
    which no client is given."""


def declare_release(
    resource_name: str, spec: ProductRelease, namespace: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> k8s.helm.v3.Release:
    """One `helm.v3.Release` of a pinned chart that waits for readiness and rolls back on failure."""
    if spec.chart not in CHARTS:
        raise ValueError(f"chart '{spec.chart}' has no recorded hardening paths; add it to infra/model/charts.py")
    pinned = CHARTS[spec.chart]
    oci = pinned.repository.startswith("oci://")
    return k8s.helm.v3.Release(
        resource_name,
        name=spec.name,
        chart=f"{pinned.repository}/{pinned.chart}" if oci else pinned.chart,
        version=pinned.version,
        repository_opts=None if oci else k8s.helm.v3.RepositoryOptsArgs(repo=pinned.repository),
        namespace=namespace,
        values=spec.rendered_values(),
        atomic=True,
        cleanup_on_fail=True,
        wait_for_jobs=True,
        timeout=RELEASE_TIMEOUT_SECONDS,
        opts=opts,
    )
