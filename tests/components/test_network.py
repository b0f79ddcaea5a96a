"""NetworkPolicies are generated from the products' flow tables: a row added to a table appears as a rule, a row
removed goes, each policy selects its workload's pods by their vendor's labels, and addresses outside the pod network
are exactly the CIDRs the stack config gives them. Whether the result allows every needed flow and nothing else is
judged by network-config-analyzer (tests/infra/test_network_analyzer.py)."""

from __future__ import annotations

import dataclasses

import pytest

from components.kit.flows import KUBERNETES_API, Flow, FlowTable, Outside, Port, Service, Workload
from components.platform import flow_tables, outside_networks
from components.runtime.network import NetworkTableError, network_policies, selectors
from infra.model.catalog import load_catalog
from infra.model.config import parse_stack_config, project_values
from infra.model.naming import LAYER_NAMESPACES
from infra.model.stackfiles import load_stack

SOURCE = "https://example.org/vendor-docs"


def stack(name: str):
    config = parse_stack_config(project_values(load_stack(name).config), name)
    return flow_tables(config, load_catalog()), outside_networks(config)


def by_name(manifests) -> dict[tuple[str, str], dict]:
    return {(m["metadata"]["namespace"], m["metadata"]["name"]): m for m in manifests}


def rules(manifests, namespace: str, name: str, direction: str) -> list[dict]:
    return by_name(manifests)[(namespace, name)]["spec"][direction]


CLIENT = Workload("client", "lakehouse", {"app": "client"}, source=SOURCE)
SERVER = Workload("server", "presentation", {"app": "server"}, (Port(8080),), source=SOURCE, service="server")
EXTERNAL = Outside("partner-api", "a partner's API")


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_every_layer_namespace_denies_by_default(name):
    found = by_name(network_policies(*stack(name)))
    for layer in LAYER_NAMESPACES:
        deny = found[(f"dp-{layer}", "default-deny")]["spec"]
        assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_every_allowance_names_pods_or_configured_addresses(name):
    tables, networks = stack(name)
    configured = {cidr for cidrs in networks.values() for cidr in cidrs}
    for manifest in network_policies(tables, networks):
        spec = manifest["spec"]
        if manifest["metadata"]["name"] != "default-deny":
            assert spec["podSelector"].get("matchLabels"), manifest["metadata"]
        for rule in spec.get("egress", []) + spec.get("ingress", []):
            assert rule["ports"], manifest["metadata"]  # never every port
            for peer in rule.get("to", []) + rule.get("from", []):
                if "ipBlock" in peer:
                    assert peer["ipBlock"]["cidr"] in configured
                else:  # a namespace and the pods in it, never a whole namespace
                    assert peer["podSelector"].get("matchLabels") and peer["namespaceSelector"]


def test_a_row_added_to_a_table_becomes_an_egress_and_an_ingress_rule():
    table = FlowTable("example", (CLIENT, SERVER), (Flow(CLIENT, Service("server"), 8080, "reads", SOURCE),))
    manifests = network_policies([table], {})
    (egress,) = rules(manifests, "dp-lakehouse", "client-egress", "egress")
    assert egress == {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "dp-presentation"}},
                              "podSelector": {"matchLabels": {"app": "server"}}}],
                      "ports": [{"protocol": "TCP", "port": 8080}]}
    (ingress,) = rules(manifests, "dp-presentation", "server-ingress", "ingress")
    assert ingress["from"][0]["podSelector"] == {"matchLabels": {"app": "client"}}
    assert by_name(manifests)[("dp-presentation", "server-ingress")]["spec"]["podSelector"] == {
        "matchLabels": {"app": "server"}}

    removed = network_policies([dataclasses.replace(table, flows=())], {})
    assert ("dp-lakehouse", "client-egress") not in by_name(removed)
    assert ("dp-presentation", "server-ingress") not in by_name(removed)


def test_a_service_is_served_only_by_its_pods_that_listen_on_the_port():
    other = Workload("server-worker", "presentation", {"app": "worker"}, (Port(9000),), source=SOURCE,
                     service="server")
    table = FlowTable("example", (CLIENT, SERVER, other), (Flow(CLIENT, Service("server"), 8080, "reads", SOURCE),))
    manifests = by_name(network_policies([table], {}))
    assert ("dp-presentation", "server-ingress") in manifests
    assert ("dp-presentation", "server-worker-ingress") not in manifests


def test_outside_addresses_are_the_configured_cidrs_and_nothing_else():
    table = FlowTable("example", (CLIENT,), (Flow(CLIENT, EXTERNAL, 443, "calls the partner", SOURCE),
                                             Flow(KUBERNETES_API, CLIENT, 9443, "calls the webhook", SOURCE)))
    networks = {EXTERNAL.key: ("203.0.113.0/24", "198.51.100.7/32"), KUBERNETES_API.key: ("10.0.0.0/16",)}
    manifests = network_policies([table], networks)
    (egress,) = rules(manifests, "dp-lakehouse", "client-egress", "egress")
    assert egress["to"] == [{"ipBlock": {"cidr": "203.0.113.0/24"}}, {"ipBlock": {"cidr": "198.51.100.7/32"}}]
    (ingress,) = rules(manifests, "dp-lakehouse", "client-ingress", "ingress")
    assert ingress == {"from": [{"ipBlock": {"cidr": "10.0.0.0/16"}}], "ports": [{"protocol": "TCP", "port": 9443}]}
    with pytest.raises(NetworkTableError, match=r"kubernetes\.network\.endpoints\.partner-api"):
        network_policies([table], {KUBERNETES_API.key: ("10.0.0.0/16",)})


def test_anywhere_appears_only_where_the_stack_config_says_so():
    for name in ("dev", "prod"):
        tables, networks = stack(name)
        anywhere = {key for key, cidrs in networks.items() if "0.0.0.0/0" in cidrs}
        narrowed = {key: tuple(c for c in cidrs if c != "0.0.0.0/0") or ("192.0.2.1/32",)
                    for key, cidrs in networks.items()}
        text = str(network_policies(tables, narrowed))
        assert anywhere and "0.0.0.0/0" not in text


def test_a_workload_labelled_as_a_subset_of_another_excludes_the_other():
    web = Workload("web", "presentation", {"app": "superset"}, (Port(8088),), source=SOURCE)
    init = Workload("init", "presentation", {"app": "superset", "job": "init-db"}, source=SOURCE)
    found = selectors([web, init])
    assert found["web"].pod_selector() == {
        "matchLabels": {"app": "superset"},
        "matchExpressions": [{"key": "job", "operator": "NotIn", "values": ["init-db"]}]}
    assert found["init"].pod_selector() == {"matchLabels": {"app": "superset", "job": "init-db"}}


def test_a_flow_that_reaches_no_pod_is_the_tables_error():
    table = FlowTable("example", (CLIENT, SERVER), (Flow(CLIENT, Service("server"), 5432, "reads", SOURCE),))
    with pytest.raises(NetworkTableError, match="reaches no pod on 5432"):
        network_policies([table], {})
