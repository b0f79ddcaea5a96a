"""Who talks to whom, as each vendor documents it: the pods a product runs and the connections they need.

These tables are the second source of the platform's network, apart from the catalog the NetworkPolicies are
generated from: every row cites the vendor's documentation or source (a URL, or `owner/repo@ref:path`), so a
policy can be judged against what the product really does rather than against the generator's own reading.
`infra/offline/network.py` hands the generated policies, stand-ins of these pods and the flows to
network-config-analyzer and reports what is blocked, what is open that no row needs and what selects nothing.

Example (a product's `flows.py`)::

    SERVER = Workload("airbyte-server", "ingestion",
                      {"app.kubernetes.io/name": "server", "app.kubernetes.io/instance": "airbyte"},
                      (Port(8001),), source=chart_source("airbytehq/helm-charts", "0f929a3754ae", "..."),
                      service="airbyte")

    def flow_table(settings: IngestionSettings) -> FlowTable:
        return FlowTable("ingestion", workloads=(SERVER,), flows=(
            Flow(SERVER, Service("postgresql"), None, "keeps its configuration and jobs",
                 "https://docs.airbyte.com/platform/deploying-airbyte/integrations/database"),
        ))

Another product's pods are named by catalog service (`Service("postgresql")`), never imported; the product that
runs a service says where it is reached in a stack (`Endpoint`: its pods, or an `Outside` address such as S3).
Pure data: no resources, no Pulumi.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Protocol = Literal["TCP", "UDP"]
# A vendor's page, a file of a vendor's repository at a tag or commit, or (for the program's own workloads) a file
# of this repository, which tests/components/test_flows.py checks exists.
CITATION = re.compile(r"^(https://\S+|[\w.-]+/[\w.-]+@[\w.+-]+:\S+|(components|infra|docs)/[\w./-]+)$")


def cited(source: str) -> str:
    """`source` if it is a URL, `owner/repo@ref:path` or a path in this repository; every row goes through here."""
    if not CITATION.match(source):
        raise ValueError(f"not a citation (a URL, owner/repo@ref:path or a repository path): {source!r}")
    return source


@dataclass(frozen=True)
class Port:
    """A port a workload's containers listen on."""

    number: int
    protocol: Protocol = "TCP"


@dataclass(frozen=True)
class Workload:
    """Pods of one kind, in one namespace, labelled as their vendor labels them.

    `declared`: the program declares the workload itself (a StatefulSet, CronJob or Job of its own); its labels
    and ports are then read from the program's recorded object of the same name, not repeated here. Otherwise the
    pods come from a chart or an operator, and `labels` and `ports` are what `source` documents.
    """

    name: str
    layer: str | None
    """Platform layer whose namespace (`dp-<layer>`) the pods run in; None with `namespace`."""
    labels: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)
    ports: tuple[Port, ...] = ()
    source: str = ""
    service: str | None = None
    """The catalog service these pods are (`infra/dataflow.yaml`); other products reach them as `Service`."""
    namespace: str | None = None
    """A namespace outside the platform's layers (CoreDNS in `kube-system`)."""
    replicas: int = 1
    """Pods the stand-in has: 2 where replicas talk to each other (transport, gossip)."""
    declared: bool = False

    def __post_init__(self) -> None:
        if (self.layer is None) == (self.namespace is None):
            raise ValueError(f"workload {self.name}: give a layer or a namespace, not both")
        if not self.declared:
            cited(self.source)
            if not self.labels:
                raise ValueError(f"workload {self.name}: a chart's pods need the labels their vendor gives them")

    @property
    def namespace_name(self) -> str:
        return self.namespace or f"dp-{self.layer}"


@dataclass(frozen=True)
class Service:
    """Another product's pods, by catalog service name: as a server, those of its workloads that listen on the
    flow's port; as a client, all of them. Where the service lives outside the cluster in a stack (S3, RDS), its
    owner's `Endpoint` says where and on which port."""

    name: str


@dataclass(frozen=True)
class Outside:
    """An endpoint outside the pod network: the Kubernetes API server, the nodes' kubelets, a source, S3, RDS.

    `key`: the stack-config path (under `dataplatform:`) whose CIDRs say where it is; the NetworkPolicies allow
    exactly those, and a stack that needs the endpoint without setting them fails validation under that key.
    Unset: `kubernetes.network.endpoints.<name>`."""

    name: str
    description: str
    key: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", f"{ENDPOINTS_KEY}.{self.name}")


ENDPOINTS_KEY = "kubernetes.network.endpoints"
KUBERNETES_API = Outside("kubernetes-api", "the Kubernetes API server (its endpoints, behind `kubernetes.default`)",
                         "kubernetes.network.apiServer")
NODES = Outside("nodes", "the nodes' kubelets, at the node addresses", "kubernetes.network.nodes")
# Shared: the deployer's AWS provider calls them, and workloads that assume IAM roles call STS there.
AWS_APIS = Outside("aws-apis", "the AWS service endpoints the AWS provider calls (S3, KMS, RDS, IAM)")

Peer = Workload | Service | Outside


@dataclass(frozen=True)
class Flow:
    """One connection a product needs: `client` opens it to `server` on `port`, for `why`, as `source` says."""

    client: Peer
    server: Peer
    port: int | None
    """None: the ports of the server service's `Endpoint` in this stack (MinIO 9000 in dev, S3 443 in prod)."""
    why: str
    source: str
    protocol: Protocol = "TCP"

    def __post_init__(self) -> None:
        cited(self.source)
        if isinstance(self.client, Outside) and isinstance(self.server, Outside):
            raise ValueError(f"flow {self.why!r}: at least one end must be a pod")
        if self.port is None and not isinstance(self.server, Service):
            raise ValueError(f"flow {self.why!r}: only a flow to a Service may take its port from the Endpoint")


@dataclass(frozen=True)
class Endpoint:
    """Where a service is reached in this stack: its pods on `ports`, or `outside` on `ports`."""

    service: str
    ports: tuple[int, ...]
    outside: Outside | None = None
    source: str = ""

    def __post_init__(self) -> None:
        cited(self.source)


@dataclass(frozen=True)
class FlowTable:
    """One product's contribution: its pods, the connections they need and where its services are reached."""

    product: str
    workloads: tuple[Workload, ...] = ()
    flows: tuple[Flow, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()


def chart_source(repository: str, ref: str, path: str) -> str:
    """`owner/repo@ref:path`, the form every chart-sourced row cites."""
    return cited(f"{repository}@{ref}:{path}")
