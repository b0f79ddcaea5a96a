"""What the runtime base hands to every layer that runs in, or is configured through, the cluster.

`KubernetesRuntime` builds one `ClusterContext`; `DataPlatform` passes it to the metadata, logs, lakehouse,
ingestion, presentation and monitoring layers. Layers take values from it, never globals, so the resource
graph carries the real data dependencies (decision 0001: the CA path and the endpoints are Outputs, and
providers configured from them wait for them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.kit.base import child_options
from infra.model.naming import namespace_name, service_host

# Secret (keys `username`, `password`) in `dp-logs` that the logs layer creates for the log shipper's
# Elasticsearch identity; the runtime's Fluent Bit reads it through secretKeyRef.
LOG_SHIPPER_SECRET = "log-shipper-credentials"


# Leaf certificates the platform's issuer signs: 90 days, renewed 15 days before they expire.
LEAF_DURATION = "2160h"
LEAF_RENEW_BEFORE = "360h"


def service_dns_names(service: str, layer: str) -> list[str]:
    """Every name a client in the cluster may use for a service, for a certificate's `dnsNames`."""
    return [service, f"{service}.{namespace_name(layer)}.svc", service_host(service, layer)]


def server_certificate(
    secret_name: str,
    dns_names: list[str],
    issuer: str,
    *,
    lifetime: bool = True,
    private_key: tuple[str, int] = ("ECDSA", 256),
    **extra: Any,
) -> dict[str, Any]:
    """A cert-manager `Certificate` spec for a TLS server, signed by the platform's ClusterIssuer.

    `lifetime` sets the leaf lifetime above (otherwise cert-manager's defaults apply); `extra` adds fields such as
    `keystores`.
    """
    algorithm, size = private_key
    spec: dict[str, Any] = {"secretName": secret_name, "dnsNames": dns_names}
    if lifetime:
        spec.update(duration=LEAF_DURATION, renewBefore=LEAF_RENEW_BEFORE)
    spec.update(
        privateKey={"algorithm": algorithm, "size": size, "rotationPolicy": "Always"},
        usages=["server auth", "digital signature", "key encipherment"],
        **extra,
        issuerRef={"name": issuer, "kind": "ClusterIssuer", "group": "cert-manager.io"},
    )
    return spec


@dataclass(frozen=True)
class ClusterContext:
    """The runtime's outputs that other layers consume."""

    namespaces: Mapping[str, pulumi.Input[str]]
    """Layer -> namespace name (an Output of the Namespace resource, so dependents wait for it)."""
    ca_pem: pulumi.Input[str]
    """PEM of the stack's CA: dynamic providers take it as an input."""
    ca_file: pulumi.Input[str]
    """Path of the CA bundle on the deployer, for bridged providers that only read files."""
    issuer: str
    """Name of the cert-manager ClusterIssuer that signs the platform's certificates."""
    kubernetes: pulumi.ProviderResource | None = None
    """The Kubernetes provider every in-cluster resource uses (None: the default provider)."""
    operators: Mapping[str, pulumi.Resource] = field(default_factory=dict)
    """Installed operators and shared services by name (cert-manager, cloudnative-pg, eck, prometheus, ...),
    for `depends_on` where a layer creates their custom resources."""
    services: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Endpoints of shared services by name (e.g. `redis`, `log-shipper`, `minio`)."""
    images: Mapping[str, str] = field(default_factory=dict)
    """The platform's own images by name (`superset`, `dbt-runner`), pinned from images/digests.lock.json."""
    replicas: int = 1
    """Replicas of each shared service and of the products' web tiers (`kubernetes.replicas`)."""
    storage_class: str | None = None
    """StorageClass of the layers' volumes (`kubernetes.storageClass`); None: the cluster's default."""
    runbook_base: str = ""
    """What each alert's runbook path (`docs/<document>.md#<alert>`) is appended to (`alerting.runbookBaseUrl`,
    ending in `/`); "" leaves the links repository-relative."""

    def options(self, parent: pulumi.Resource, **extra: Any) -> pulumi.ResourceOptions:
        """Options for a layer's in-cluster child: parented to the layer, on the stack's Kubernetes provider."""
        if self.kubernetes is not None:
            extra["provider"] = self.kubernetes
        return child_options(parent, **extra)

    def secret(
        self,
        parent: pulumi.Resource,
        resource_name: str,
        secret_name: str,
        namespace: pulumi.Input[str],
        data: Mapping[str, pulumi.Input[str]],
        type_: str = "Opaque",
    ) -> k8s.core.v1.Secret:
        """A layer's Kubernetes Secret; its data stays a Pulumi secret in state and plan output."""
        return k8s.core.v1.Secret(
            resource_name,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=secret_name, namespace=namespace),
            type=type_,
            string_data=data,
            opts=self.options(parent, additional_secret_outputs=["stringData", "data"]),
        )

    def after(self, *names: str) -> Sequence[pulumi.Resource]:
        """The operator resources a layer's custom resources must wait for."""
        return [self.operators[name] for name in names if name in self.operators]
