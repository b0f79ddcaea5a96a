"""Makes the platform's Services reachable by their cluster DNS names from a machine outside the cluster.

    sudo -E python -m infra.e2e.reach [--hosts /etc/hosts] [--every 5]      (runs until stopped)

`pulumi up` and the smoke test reach in-cluster services by their cluster DNS names (`minio.dp-storage.svc.
cluster.local:9000`, `airbyte-api.dp-ingestion.svc.cluster.local:8443`, ...), and every certificate is issued for
those names (decision 0001: in production the deploy runner lives inside the cluster). Outside it (a kind cluster
on a CI runner or a laptop) this loop gives each Service of a `dp-*` namespace its own loopback address
(127.42.x.y, derived from its name), writes `<address> <service>.<namespace>.svc.cluster.local` into the hosts
file, and keeps a `kubectl port-forward --address <address> svc/<service> <every port>` running for it. Services
appear while `pulumi up` runs: it lists them again every few seconds and restarts a forward that died (a pod
restarted). Headless Services are skipped (port-forward needs one backing pod, and nothing outside reaches them).

Root is needed for the hosts file and for ports below 1024. Stop it with SIGTERM; it stops its forwards.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NAMESPACE_PREFIX = "dp-"
MARK = "# dataplatform e2e"


@dataclass(frozen=True)
class Forward:
    namespace: str
    service: str
    ports: tuple[int, ...]
    address: str

    @property
    def host(self) -> str:
        return f"{self.service}.{self.namespace}.svc.cluster.local"

    def command(self, kubectl: str = "kubectl") -> list[str]:
        return [kubectl, "port-forward", "--namespace", self.namespace, "--address", self.address,
                f"svc/{self.service}", *(str(port) for port in self.ports)]


def address_for(namespace: str, service: str) -> str:
    """A stable loopback address per Service (127.42.0.0/16 is loopback on Linux; no two names collide in a run:
    `forwards` moves a collision to the next free address)."""
    digest = hashlib.sha256(f"{namespace}/{service}".encode()).digest()
    return f"127.42.{digest[0]}.{max(digest[1], 1)}"


def forwards(services: Mapping[str, Any]) -> list[Forward]:
    """The forwards for a `kubectl get services --all-namespaces --output json` answer, sorted by host."""
    found: list[Forward] = []
    used: set[str] = set()
    items = sorted(services.get("items", []), key=lambda item: (item["metadata"]["namespace"],
                                                                 item["metadata"]["name"]))
    for item in items:
        namespace, name = item["metadata"]["namespace"], item["metadata"]["name"]
        spec = item.get("spec", {})
        if not namespace.startswith(NAMESPACE_PREFIX) or spec.get("clusterIP") in (None, "None"):
            continue
        ports = tuple(sorted({int(port["port"]) for port in spec.get("ports", []) if port.get("protocol", "TCP")
                              == "TCP"}))
        if not ports:
            continue
        address = address_for(namespace, name)
        while address in used:
            first, second, third, fourth = address.split(".")
            address = f"{first}.{second}.{third}.{int(fourth) % 254 + 1}"
        used.add(address)
        found.append(Forward(namespace, name, ports, address))
    return found


def hosts_text(current: str, wanted: Iterable[Forward]) -> str:
    """The hosts file with this tool's lines replaced by one line per forward."""
    kept = [line for line in current.splitlines() if not line.endswith(MARK)]
    return "\n".join([*kept, *(f"{forward.address} {forward.host} {MARK}" for forward in wanted)]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.e2e.reach", description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=Path, default=Path("/etc/hosts"))
    parser.add_argument("--every", type=float, default=5.0, help="seconds between two listings of the Services")
    parser.add_argument("--kubectl", default="kubectl")
    args = parser.parse_args(argv)
    running: dict[Forward, subprocess.Popen] = {}
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        listed = subprocess.run([args.kubectl, "get", "services", "--all-namespaces", "--output", "json"],
                                capture_output=True, text=True, check=False)
        if listed.returncode == 0:
            wanted = forwards(json.loads(listed.stdout))
            text = hosts_text(args.hosts.read_text(), wanted)
            if text != args.hosts.read_text():
                args.hosts.write_text(text)
            for forward in wanted:
                process = running.get(forward)
                if process is None or process.poll() is not None:
                    if process is not None:
                        print(f"reach: {forward.host} forward ended ({process.returncode}); restarting", flush=True)
                    else:
                        print(f"reach: {forward.host} -> {forward.address} {list(forward.ports)}", flush=True)
                    running[forward] = subprocess.Popen(forward.command(args.kubectl), stdout=subprocess.DEVNULL,
                                                        stderr=subprocess.DEVNULL)
        time.sleep(args.every)
    for process in running.values():
        process.terminate()
    args.hosts.write_text(hosts_text(args.hosts.read_text(), []))
    return 0


if __name__ == "__main__":
    sys.exit(main())
