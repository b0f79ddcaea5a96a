"""Flows mined from what the charts render: every `host:port` (or http/https URL) in a rendered pod's environment,
arguments, command or the ConfigMaps it reads its environment from, whose host names a Service of the stack, is a
connection that pod will open, to the pods that Service selects, on the port it forwards to.

This is the second, independent source of the flows the network must allow (the first is the flow tables each
product cites, components/<product>/flows.py): a chart's own configuration says whom its pods call. Hosts that
name no Service of the render (operator-made Services such as ECK's `logs-es-http`, or addresses outside the
cluster) are counted, not guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from infra.offline.render.monitors import StackObject, matches, pod_templates

CLUSTER_DOMAIN = "svc.cluster.local"
DEFAULT_PORTS = {"http": 80, "https": 443}
ADDRESS = re.compile(
    r"(?:(?P<scheme>[a-z][a-z0-9+.-]*)://)?(?:[^@/\s\"']+@)?"
    r"(?P<host>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*)"
    r"(?::(?P<port>\d{1,5}))?"
)


@dataclass(frozen=True)
class MinedFlow:
    client_namespace: str
    client_labels: tuple[tuple[str, str], ...]
    client: str
    """The workload that opens it (`<release>:<kind>/<name>`)."""
    service: str
    """`<namespace>/<name>` of the Service it names."""
    server_namespace: str
    server_labels: tuple[tuple[str, str], ...]
    server: str
    port: int
    """The container port the Service forwards to."""
    protocol: str
    evidence: str
    """Where the address was found, and the text."""


def strings(template: Mapping[str, Any], config_maps: Mapping[tuple[str, str], Mapping[str, Any]],
            namespace: str) -> Iterator[tuple[str, str]]:
    """(where, text) of every string a pod's containers are configured with."""
    spec = template.get("spec") or {}
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        name = container.get("name", "?")
        for variable in container.get("env") or []:
            if isinstance(variable.get("value"), str):
                yield f"container {name} env {variable.get('name')}", variable["value"]
            reference = (variable.get("valueFrom") or {}).get("configMapKeyRef") or {}
            data = config_maps.get((namespace, str(reference.get("name"))), {})
            if isinstance(data.get(reference.get("key")), str):
                yield f"container {name} env {variable.get('name')} (ConfigMap {reference.get('name')})", \
                    data[reference["key"]]
        for source in container.get("envFrom") or []:
            reference = source.get("configMapRef") or {}
            for key, value in config_maps.get((namespace, str(reference.get("name"))), {}).items():
                if isinstance(value, str):
                    yield f"container {name} env {key} (ConfigMap {reference.get('name')})", value
        for field in ("command", "args"):
            for argument in container.get(field) or []:
                if isinstance(argument, str):
                    yield f"container {name} {field}", argument


def _service_named(host: str, namespace: str, services: Mapping[tuple[str, str], StackObject]) -> StackObject | None:
    parts = host.split(".")
    if host.endswith("." + CLUSTER_DOMAIN):
        parts = host[: -len(CLUSTER_DOMAIN) - 1].split(".")
        parts = parts if len(parts) == 2 else []
    elif len(parts) == 3 and parts[2] == "svc":
        parts = parts[:2]
    if len(parts) == 1:
        return services.get((namespace, parts[0]))
    if len(parts) == 2:
        return services.get((parts[1], parts[0]))
    return None


def _target_port(service: StackObject, port: int, server: Mapping[str, Any]) -> tuple[int, str] | None:
    for entry in service.spec.get("ports") or []:
        if int(entry.get("port", -1)) != port:
            continue
        target = entry.get("targetPort", port)
        protocol = str(entry.get("protocol", "TCP"))
        if isinstance(target, int) or str(target).isdigit():
            return int(target), protocol
        for container in (server.get("spec") or {}).get("containers") or []:
            for declared in container.get("ports") or []:
                if declared.get("name") == target:
                    return int(declared["containerPort"]), protocol
        return None
    return None


def mine(objects: Iterable[StackObject]) -> tuple[list[MinedFlow], set[str]]:
    """The flows the rendered pods' own configuration names, and the hosts with a port that name no Service here."""
    objects = list(objects)
    services = {(item.namespace, item.name): item for item in objects if item.kind == "Service" and item.group == ""}
    config_maps = {(item.namespace, item.name): item.document.get("data") or {} for item in objects
                   if item.kind == "ConfigMap" and item.group == ""}
    templates = pod_templates(objects)
    found: dict[tuple, MinedFlow] = {}
    unresolved: set[str] = set()
    for workload, template in templates:
        labels = (template.get("metadata") or {}).get("labels") or {}
        client = f"{workload.owner}:{workload.kind}/{workload.name}"
        for where, text in strings(template, config_maps, workload.namespace):
            for match in ADDRESS.finditer(text):
                scheme, host, port = match["scheme"], match["host"], match["port"]
                if port is None and scheme not in DEFAULT_PORTS:
                    continue
                # An image reference (`airbyte/async-profiler:1.8.5`) or a path is no address.
                if (match.start() > 0 and text[match.start() - 1] in "/.-_") or host == "localhost":
                    continue
                if not re.search("[a-z]", host):
                    continue
                number = int(port) if port else DEFAULT_PORTS[str(scheme)]
                service = _service_named(host, workload.namespace, services)
                if service is None:
                    if port is not None:
                        unresolved.add(f"{host}:{number}")
                    continue
                selector = service.spec.get("selector") or {}
                for server, server_template in templates:
                    server_labels = (server_template.get("metadata") or {}).get("labels") or {}
                    if server.namespace != service.namespace or not selector or \
                            not matches({"matchLabels": selector}, server_labels):
                        continue
                    if server is workload:
                        # A pod's own Service in a ConfigMap every pod of the chart reads (Airbyte's env): not a
                        # connection to another pod, and not one a NetworkPolicy between pods can judge.
                        continue
                    target = _target_port(service, number, server_template)
                    if target is None:
                        continue
                    key = (workload.namespace, client, service.namespace, server.name, target)
                    found.setdefault(key, MinedFlow(
                        workload.namespace, tuple(sorted(labels.items())), client,
                        f"{service.namespace}/{service.name}", server.namespace,
                        tuple(sorted(server_labels.items())), f"{server.owner}:{server.kind}/{server.name}",
                        target[0], target[1], f"{where}: {text[:160]}"))
    return sorted(found.values(), key=lambda flow: (flow.client, flow.server, flow.port)), unresolved
