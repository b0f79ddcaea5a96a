"""NCA's answers are read as it writes them: connection sets, pods and address ranges, empty policies and rules."""

from __future__ import annotations

import ipaddress

import pytest
import yaml

from infra.offline import nca
from infra.offline.nca import AddressRange, Connections, Pod, parse_connections, parse_connectivity


@pytest.mark.parametrize(("text", "open_", "closed"), [
    ("{protocols:TCP,dst_ports:443,6443}", [("TCP", 443), ("TCP", 6443)], [("TCP", 80), ("UDP", 443)]),
    ("{protocols:TCP, UDP,dst_ports:53}", [("TCP", 53), ("UDP", 53)], [("SCTP", 53), ("TCP", 54)]),
    ("{protocols:TCP,dst_ports:9001-9030}", [("TCP", 9001), ("TCP", 9030)], [("TCP", 9000), ("TCP", 9031)]),
    ("{dst_ports:80}", [("TCP", 80), ("UDP", 80), ("SCTP", 80)], [("TCP", 81)]),
    ("{protocols:UDP,dst_ports:9094},{protocols:TCP,dst_ports:9093-9094}", [("UDP", 9094), ("TCP", 9093)],
     [("UDP", 9093)]),
    ("All connections", [("TCP", 1), ("UDP", 65535)], []),
    ("All but {protocols:TCP,dst_ports:22}", [("TCP", 21), ("UDP", 22)], [("TCP", 22)]),
])
def test_connection_sets_read_as_nca_prints_them(text, open_, closed):
    connections = parse_connections(text)
    assert all(connections.allows(*pair) for pair in open_)
    assert not any(connections.allows(*pair) for pair in closed)


def test_a_connection_set_that_cannot_be_read_stops_the_check():
    with pytest.raises(nca.AnalyzerError, match="cannot read"):
        parse_connections("{icmp_type:8}")


def test_connection_arithmetic_keeps_what_is_left():
    allowed = Connections.of("TCP", 443, 6443, 8080) | Connections.of("UDP", 53)
    rest = allowed - Connections.of("TCP", 6443, 8080)
    assert str(rest) == "TCP 443; UDP 53"
    assert not (rest - allowed)
    assert Connections.everything().single_ports() is None


def test_connectivity_lines_name_pods_and_address_ranges():
    text = """global: cluster has 3 unique endpoints
0.0.0.0-255.255.255.255 => dp-system/webhook[Pod] : {protocols:TCP,dst_ports:10250}
dp-logs/fluent-bit[Pod] => 198.18.0.1-198.18.0.1 : {protocols:TCP,dst_ports:443}
dp-a/x-0[Pod] => dp-a/x-1[Pod] : All connections
::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff => dp-a/x-0[Pod] : All connections"""
    first, second, third = parse_connectivity(text)
    assert first.source == AddressRange(ipaddress.IPv4Address("0.0.0.0"), ipaddress.IPv4Address("255.255.255.255"))
    assert str(first.source) == "0.0.0.0/0" and first.destination == Pod("dp-system", "webhook")
    assert str(second.destination) == "198.18.0.1/32"
    assert third.connections.allows("SCTP", 7)


def test_empty_policies_and_rules_are_read_from_the_emptiness_answer():
    answer = yaml.safe_load("""
- query: emptiness
  numerical_result: 2
  explanation:
  - description: Policies that does not select any pods
    policies: [dp-storage/default-deny]
  - description: Ingress rules that does not select any pods
    pairs:
    - policy: dp-logs/ingress-object-store-to-log-shipper
      ingress_rules_indexes: ['1']
""")
    emptiness = nca.parse_emptiness(answer)
    assert emptiness.policies == ("dp-storage/default-deny",)
    assert emptiness.rules == (("dp-logs/ingress-object-store-to-log-shipper", "ingress", 1),)


def test_a_missing_analyzer_names_the_command_that_installs_it(monkeypatch, tmp_path):
    monkeypatch.setenv("NCA_BIN", str(tmp_path / "nca"))
    with pytest.raises(nca.AnalyzerMissingError, match="make nca-setup"):
        nca.executable()
