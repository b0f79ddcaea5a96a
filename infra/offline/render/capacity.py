"""How much a stack asks of its cluster: the CPU and memory its long-running pods request, and the volumes they
claim, from what the charts render and the program declares, and from the custom resources whose pods operators
create (ECK's `nodeSets`, CloudNativePG's `instances`, the Prometheus Operator's `replicas`).

Pods of Jobs, CronJobs and hooks run now and then and are left out; a DaemonSet counts once (per node in a real
cluster). Quantities are Kubernetes' (`500m`, `2Gi`); an unset request counts as zero and is named.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.offline.render.monitors import StackObject, pod_templates

SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
QUANTITY = re.compile(r"^(?P<number>[0-9.]+)(?P<suffix>m|Ki|Mi|Gi|Ti|k|M|G|T)?$")
LONG_RUNNING = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")


def quantity(value: Any, cpu: bool = False) -> float:
    """A Kubernetes quantity as cores (cpu) or bytes."""
    match = QUANTITY.match(str(value).strip())
    if not match:
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    number, suffix = float(match["number"]), match["suffix"]
    if suffix == "m":
        return number / 1000
    return number * SUFFIXES.get(suffix or "", 1) if not cpu or suffix else number


@dataclass
class Capacity:
    cpu: float = 0.0
    """Cores requested."""
    memory: float = 0.0
    """Bytes requested."""
    storage: float = 0.0
    """Bytes claimed by volume claim templates and operator-managed volumes."""
    pods: int = 0
    unset: list[str] = field(default_factory=list)
    """Containers that request no CPU or memory."""

    def add(self, owner: str, containers: Iterable[Mapping[str, Any]], replicas: int) -> None:
        self.pods += replicas
        for container in containers:
            requests = (container.get("resources") or {}).get("requests") or {}
            if "cpu" not in requests or "memory" not in requests:
                self.unset.append(f"{owner}/{container.get('name', '?')}")
            self.cpu += quantity(requests.get("cpu", 0), cpu=True) * replicas
            self.memory += quantity(requests.get("memory", 0)) * replicas

    def line(self) -> str:
        return (f"{self.pods} long-running pods request {self.cpu:.2f} CPU cores and {self.memory / 2**30:.1f} GiB "
                f"of memory, and claim {self.storage / 2**30:.0f} GiB of volumes")


def _replicas(value: Any) -> int:
    return int(float(value)) if value is not None else 1


def _claims(templates: Iterable[Mapping[str, Any]], replicas: int) -> float:
    return sum(quantity(((claim.get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage", 0))
               for claim in templates) * replicas


def capacity(objects: list[StackObject]) -> Capacity:
    total = Capacity()
    for workload, template in pod_templates(objects):
        if workload.kind not in LONG_RUNNING:
            continue
        replicas = 1 if workload.kind == "DaemonSet" else _replicas(workload.spec.get("replicas"))
        total.add(f"{workload.owner}:{workload.kind}/{workload.name}",
                  (template.get("spec") or {}).get("containers") or [], replicas)
        total.storage += _claims(workload.spec.get("volumeClaimTemplates") or [], replicas)
    for item in objects:
        if item.kind == "PersistentVolumeClaim" and item.group == "":
            total.storage += _claims([item.document], 1)
        elif item.kind == "Elasticsearch":
            for node_set in item.spec.get("nodeSets") or []:
                count = _replicas(node_set.get("count"))
                containers = ((node_set.get("podTemplate") or {}).get("spec") or {}).get("containers") or []
                total.add(f"{item.owner}:Elasticsearch/{item.name}/{node_set.get('name')}", containers, count)
                total.storage += _claims(node_set.get("volumeClaimTemplates") or [], count)
        elif item.kind == "Cluster" and item.group == "postgresql.cnpg.io":
            instances = _replicas(item.spec.get("instances"))
            total.add(f"{item.owner}:Cluster/{item.name}", [{"name": "postgres", "resources": item.spec.get(
                "resources") or {}}], instances)
            total.storage += quantity((item.spec.get("storage") or {}).get("size", 0)) * instances
        elif item.kind in ("Prometheus", "Alertmanager") and item.group == "monitoring.coreos.com":
            replicas = _replicas(item.spec.get("replicas"))
            total.add(f"{item.owner}:{item.kind}/{item.name}", [{"name": item.kind.lower(), "resources": item.spec.get(
                "resources") or {}}], replicas)
            claim = ((item.spec.get("storage") or {}).get("volumeClaimTemplate") or {})
            total.storage += _claims([claim], replicas) if claim else 0
    total.unset.sort()
    return total
