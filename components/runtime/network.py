"""NetworkPolicies derived from the catalog: default deny in every namespace, then one allowance per call.

Pure: builds manifests (dicts in the Kubernetes API's shape) and creates no resources; `KubernetesRuntime`
declares them. The calls come from the catalog's `services` (each `uses` entry) and its roles (a service
acting as a role with `storage: true` reaches the object store), plus what every platform needs: DNS for
everyone, the Kubernetes API for controllers, webhook ports for the API server, metrics ports for Prometheus
and admin ports for the deployer. Peers are whole layer namespaces (one namespace per layer), so a policy
does not depend on how each chart labels its pods. A service that lives outside the cluster in a stack
(prod's S3 and RDS) is reached by port through an egress-only rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.model.catalog import Catalog, Service
from infra.model.naming import LAYER_NAMESPACES, namespace_name

OBJECT_STORE = "object-store"
ANYWHERE = "0.0.0.0/0"
KUBERNETES_API_PORTS = (443, 6443)
OBJECT_STORE_EXTERNAL_PORT = 443


@dataclass(frozen=True)
class Flow:
    """One allowed call: a client service to a server service on some ports."""

    client: str
    client_layer: str
    server: str
    server_layer: str
    ports: tuple[int, ...]
    external: bool = False

    @property
    def name(self) -> str:
        return f"{self.client}-to-{self.server}"


def flows(catalog: Catalog, external: frozenset[str] = frozenset()) -> list[Flow]:
    """Every call the catalog implies, sorted; `external` names services outside the cluster in this stack."""
    services = {service.name: service for service in catalog.services}
    storage_roles = {role.name for role in catalog.roles if role.storage}
    found: dict[tuple[str, str], Flow] = {}

    def add(client: Service, server: Service, ports: tuple[int, ...]) -> None:
        if not ports or client.name == server.name:
            return
        is_external = server.name in external
        if is_external and server.name == OBJECT_STORE:
            ports = (OBJECT_STORE_EXTERNAL_PORT,)
        key = (client.name, server.name)
        previous = found.get(key)
        merged = tuple(sorted(set(ports) | set(previous.ports if previous else ())))
        found[key] = Flow(client.name, client.layer, server.name, server.layer, merged, is_external)

    for client in catalog.services:
        called = list(client.uses)
        if client.role in storage_roles and OBJECT_STORE in services:
            called.append(OBJECT_STORE)
        for server_name in called:
            server = services[server_name]
            add(client, server, _ports(server, ("serve", "admin")))
        if client.scrapes:
            for server in catalog.services:
                if server.name not in external:
                    add(client, server, _ports(server, ("metrics",)))
        if client.deploys:
            for server in catalog.services:
                add(client, server, _ports(server, ("admin",)))
    return sorted(found.values(), key=lambda flow: (flow.client, flow.server))


def _ports(service: Service, purposes: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(sorted(port.port for port in service.ports if port.purpose in purposes))


def _metadata(name: str, layer: str) -> dict:
    return {
        "name": name,
        "namespace": namespace_name(layer),
        "labels": {"app.kubernetes.io/managed-by": "pulumi", "dataplatform/policy": "network"},
    }


def _peer(layer: str) -> dict:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace_name(layer)}}}


def _tcp(ports: tuple[int, ...]) -> list[dict]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def network_policies(catalog: Catalog, external: frozenset[str] = frozenset()) -> list[dict]:
    """Every NetworkPolicy manifest of the platform, in a stable order."""
    manifests: list[dict] = []
    for layer in LAYER_NAMESPACES:
        manifests.append(
            {
                "metadata": _metadata("default-deny", layer),
                "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
            }
        )
        manifests.append(
            {
                "metadata": _metadata("allow-dns", layer),
                "spec": {
                    "podSelector": {},
                    "policyTypes": ["Egress"],
                    "egress": [
                        {
                            "to": [
                                {
                                    "namespaceSelector": {
                                        "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                                    },
                                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                                }
                            ],
                            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                        }
                    ],
                },
            }
        )
    api_layers = sorted({service.layer for service in catalog.services if service.kubernetes_api})
    for layer in api_layers:
        manifests.append(
            {
                "metadata": _metadata("allow-kubernetes-api", layer),
                "spec": {
                    "podSelector": {},
                    "policyTypes": ["Egress"],
                    "egress": [{"to": [{"ipBlock": {"cidr": ANYWHERE}}], "ports": _tcp(KUBERNETES_API_PORTS)}],
                },
            }
        )
    for service in catalog.services:
        webhook_ports = _ports(service, ("webhook",))
        if webhook_ports and service.name not in external:
            # The API server calls admission webhooks from outside the pod network; only the port narrows it.
            manifests.append(
                {
                    "metadata": _metadata(f"allow-webhooks-to-{service.name}", service.layer),
                    "spec": {
                        "podSelector": {},
                        "policyTypes": ["Ingress"],
                        "ingress": [{"ports": _tcp(webhook_ports)}],
                    },
                }
            )
    for flow in flows(catalog, external):
        egress_to = [{"ipBlock": {"cidr": ANYWHERE}}] if flow.external else [_peer(flow.server_layer)]
        manifests.append(
            {
                "metadata": _metadata(f"egress-{flow.name}", flow.client_layer),
                "spec": {
                    "podSelector": {},
                    "policyTypes": ["Egress"],
                    "egress": [{"to": egress_to, "ports": _tcp(flow.ports)}],
                },
            }
        )
        if not flow.external:
            manifests.append(
                {
                    "metadata": _metadata(f"ingress-{flow.name}", flow.server_layer),
                    "spec": {
                        "podSelector": {},
                        "policyTypes": ["Ingress"],
                        "ingress": [{"from": [_peer(flow.client_layer)], "ports": _tcp(flow.ports)}],
                    },
                }
            )
    return manifests
