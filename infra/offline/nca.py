"""network-config-analyzer (IBM's NCA, PyPI `network-config-analyzer`): where it is, how it is run, what it answers.

NCA pins exact versions of PyYAML and networkx that the project's virtualenv cannot share, so it lives in its own,
`.venv-nca`, which `make nca-setup` (part of `make setup`) creates from infra/offline/nca-requirements.txt. It is
run as its CLI with a scheme file of two queries over one network config (the namespaces, the pods and the
NetworkPolicies, as YAML lists):

    nca --scheme scheme.yaml

- `connectivityMap`, as `txt_no_fw_rules`: one line per pair that may connect, `src => dst : connections`, where
  an end is a pod (`namespace/name[Pod]`) or an address range (`a.b.c.d-e.f.g.h`) and the connections are
  `All connections` or cubes such as `{protocols:TCP,dst_ports:443,6443}` (sometimes `All but {...}`);
- `emptiness`, as YAML: the policies that select no pod and the rules whose peers select none.

This module only runs it and reads its answers; infra/offline/network.py decides what they mean.
"""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV = REPO_ROOT / ".venv-nca"
REQUIREMENTS = Path(__file__).with_name("nca-requirements.txt")
SETUP_COMMAND = "make nca-setup"
PROTOCOLS = ("TCP", "UDP", "SCTP")
ALL_PORTS = ((1, 65535),)
_CUBE = re.compile(r"\{(?:protocols:(?P<protocols>[A-Za-z0-9, ]+?))?,?(?:dst_ports:(?P<ports>[0-9,-]+))?\}")
_PEER = re.compile(r"^(?P<namespace>[^/\s]+)/(?P<name>[^\[\s]+)\[[A-Za-z]+\]$")


class AnalyzerMissingError(RuntimeError):
    """`.venv-nca` has no `nca`: the message names the command that creates it."""


class AnalyzerError(RuntimeError):
    """NCA ran but gave no answer (a parse error, a crash); the message holds its output."""


def executable() -> Path:
    """The `nca` CLI: NCA_BIN if set, else `.venv-nca/bin/nca`; raises AnalyzerMissingError when absent."""
    configured = os.environ.get("NCA_BIN")
    path = Path(configured) if configured else VENV / "bin" / "nca"
    if not path.exists():
        raise AnalyzerMissingError(
            f"network-config-analyzer is not installed ({path} is missing): run `{SETUP_COMMAND}` (or "
            f"`python3 -m venv .venv-nca && .venv-nca/bin/pip install -r {REQUIREMENTS.relative_to(REPO_ROOT)}`)"
        )
    return path


# ---- connection sets ---------------------------------------------------------------------------------------


def _merge(intervals: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(intervals):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return tuple(merged)


def _subtract(intervals: tuple[tuple[int, int], ...], removed: tuple[tuple[int, int], ...]):
    result = list(intervals)
    for low, high in removed:
        kept = []
        for start, end in result:
            if end < low or start > high:
                kept.append((start, end))
                continue
            if start < low:
                kept.append((start, low - 1))
            if end > high:
                kept.append((high + 1, end))
        result = kept
    return tuple(result)


@dataclass(frozen=True)
class Connections:
    """Ports per protocol (TCP, UDP, SCTP, the ones a NetworkPolicy names), as sorted inclusive intervals."""

    ports: dict[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, protocol: str, *ports: int) -> Connections:
        return cls({protocol: _merge([(port, port) for port in ports])})

    @classmethod
    def everything(cls) -> Connections:
        return cls({protocol: ALL_PORTS for protocol in PROTOCOLS})

    def __bool__(self) -> bool:
        return any(self.ports.values())

    def __or__(self, other: Connections) -> Connections:
        protocols = set(self.ports) | set(other.ports)
        return Connections({p: _merge([*self.ports.get(p, ()), *other.ports.get(p, ())]) for p in protocols})

    def __sub__(self, other: Connections) -> Connections:
        left = {p: _subtract(intervals, other.ports.get(p, ())) for p, intervals in self.ports.items()}
        return Connections({p: intervals for p, intervals in left.items() if intervals})

    def allows(self, protocol: str, port: int) -> bool:
        return any(low <= port <= high for low, high in self.ports.get(protocol, ()))

    def single_ports(self, limit: int = 4096) -> list[tuple[str, int]] | None:
        """Every (protocol, port), or None when there are more than `limit` (a whole range is open)."""
        count = sum(high - low + 1 for intervals in self.ports.values() for low, high in intervals)
        if count > limit:
            return None
        return [(p, port) for p in sorted(self.ports) for low, high in self.ports[p] for port in range(low, high + 1)]

    def __str__(self) -> str:
        parts = []
        for protocol in sorted(self.ports):
            ranges = [str(low) if low == high else f"{low}-{high}" for low, high in self.ports[protocol]]
            parts.append(f"{protocol} {','.join(ranges)}")
        return "; ".join(parts) or "nothing"


def parse_connections(text: str) -> Connections:
    """NCA's text form of a connection set: `All connections`, `All but <cubes>` or `<cubes>`."""
    text = text.strip()
    if text == "All connections":
        return Connections.everything()
    if text == "No connections":
        return Connections()
    if text.startswith("All but "):
        return Connections.everything() - parse_connections(text.removeprefix("All but "))
    found = Connections()
    for match in _CUBE.finditer(text):
        protocols = [name.strip() for name in (match["protocols"] or ",".join(PROTOCOLS)).split(",")]
        ports = [tuple(int(n) for n in item.split("-")) if "-" in item else (int(item), int(item))
                 for item in (match["ports"] or "1-65535").split(",")]
        for protocol in protocols:
            if protocol in PROTOCOLS:
                found = found | Connections({protocol: _merge(ports)})
    if not found and text:
        raise AnalyzerError(f"cannot read NCA's connection set {text!r}")
    return found


# ---- endpoints and answers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class AddressRange:
    first: ipaddress.IPv4Address
    last: ipaddress.IPv4Address

    def networks(self) -> list[ipaddress.IPv4Network]:
        return list(ipaddress.summarize_address_range(self.first, self.last))

    def __str__(self) -> str:
        return ", ".join(str(network) for network in self.networks())


Peer = Pod | AddressRange


def parse_peer(text: str) -> Peer:
    text = text.strip()
    match = _PEER.match(text)
    if match:
        return Pod(match["namespace"], match["name"])
    if "-" in text:
        first, last = text.split("-", 1)
        return AddressRange(ipaddress.IPv4Address(first), ipaddress.IPv4Address(last))
    network = ipaddress.IPv4Network(text)
    return AddressRange(network.network_address, network.broadcast_address)


@dataclass(frozen=True)
class Allowed:
    """One line of the connectivity map: `source` may open `connections` to `destination`."""

    source: Peer
    destination: Peer
    connections: Connections


def parse_connectivity(text: str) -> list[Allowed]:
    allowed = []
    for line in text.splitlines():
        if " => " not in line:
            continue
        pair, _, connections = line.partition(" : ")
        source, _, destination = pair.partition(" => ")
        if ":" in source or ":" in destination:
            continue  # IPv6 ranges: the platform's policies name none
        allowed.append(Allowed(parse_peer(source), parse_peer(destination), parse_connections(connections)))
    return allowed


@dataclass(frozen=True)
class Emptiness:
    """Policies that select no pod, and (policy, direction, rule number) of rules whose peers select none."""

    policies: tuple[str, ...]
    rules: tuple[tuple[str, str, int], ...]


def parse_emptiness(document: Any) -> Emptiness:
    policies: list[str] = []
    rules: list[tuple[str, str, int]] = []
    for answer in document or []:
        for explanation in answer.get("explanation") or []:
            policies += explanation.get("policies") or []
            for pair in explanation.get("pairs") or []:
                for direction in ("ingress", "egress"):
                    for index in pair.get(f"{direction}_rules_indexes") or []:
                        rules.append((pair["policy"], direction, int(index)))
    return Emptiness(tuple(sorted(set(policies))), tuple(sorted(set(rules))))


@dataclass(frozen=True)
class Answers:
    connectivity: list[Allowed]
    emptiness: Emptiness
    raw_connectivity: str


def analyse(directory: Path, namespaces: list[dict], pods: list[dict], policies: list[dict]) -> Answers:
    """Write the three lists and the scheme into `directory`, run NCA once, read both answers."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, items in (("namespaces", namespaces), ("pods", pods), ("policies", policies)):
        document = {"apiVersion": "v1", "kind": "List", "items": items}
        (directory / f"{name}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    connectivity, emptiness = directory / "connectivity.txt", directory / "emptiness.yaml"
    for answer in (connectivity, emptiness):
        answer.unlink(missing_ok=True)
    scheme = {
        "namespaceList": str(directory / "namespaces.yaml"),
        "podList": str(directory / "pods.yaml"),
        "networkConfigList": [{"name": "platform", "networkPolicyList": [str(directory / "policies.yaml")]}],
        "queries": [
            {"name": "connectivity", "connectivityMap": ["platform"],
             "outputConfiguration": {"outputFormat": "txt_no_fw_rules", "outputPath": str(connectivity)}},
            {"name": "emptiness", "emptiness": ["platform"],
             "outputConfiguration": {"outputFormat": "yaml", "outputPath": str(emptiness)}},
        ],
    }
    (directory / "scheme.yaml").write_text(yaml.safe_dump(scheme, sort_keys=False))
    result = subprocess.run([str(executable()), "--scheme", str(directory / "scheme.yaml")],
                            capture_output=True, text=True, check=False)
    (directory / "nca.log").write_text(result.stdout + result.stderr)
    if not connectivity.exists() or not emptiness.exists() or "Traceback" in result.stderr:
        raise AnalyzerError(f"NCA gave no answer (exit {result.returncode}):\n{result.stdout}{result.stderr}")
    text = connectivity.read_text()
    return Answers(parse_connectivity(text), parse_emptiness(yaml.safe_load(emptiness.read_text())), text)
