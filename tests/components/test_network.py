"""NetworkPolicies are derived from the catalog: a flow added to a copy appears, a flow removed goes."""

from __future__ import annotations

from components.cluster import LAYER_NAMESPACES
from components.network import flows, network_policies
from infra.catalog import load_catalog, parse_catalog

PROD_EXTERNAL = frozenset({"object-store", "postgresql"})


def names(manifests) -> set[tuple[str, str]]:
    return {(m["metadata"]["namespace"], m["metadata"]["name"]) for m in manifests}


def catalog_with(change):
    document = load_catalog().model_dump(mode="json")
    change(document)
    return parse_catalog(document)


def test_the_seed_flows_are_allowed():
    pairs = {(flow.client, flow.server) for flow in flows(load_catalog())}
    assert {
        ("airbyte", "object-store"), ("airbyte", "postgresql"), ("dbt", "dremio"), ("dremio", "object-store"),
        ("dremio", "postgresql"), ("dremio", "elasticsearch"), ("superset", "dremio"), ("superset", "redis"),
        ("log-shipper", "elasticsearch"), ("prometheus", "dremio"),
    } <= pairs
    assert ("superset", "object-store") not in pairs  # bi has no storage credentials: it goes through Dremio


def test_every_namespace_denies_by_default_and_resolves_dns():
    found = names(network_policies(load_catalog()))
    for layer in LAYER_NAMESPACES:
        assert {(f"dp-{layer}", "default-deny"), (f"dp-{layer}", "allow-dns")} <= found


def test_adding_a_flow_adds_its_policies():
    def superset_reads_elasticsearch(document):
        next(s for s in document["services"] if s["name"] == "superset")["uses"].append("elasticsearch")

    before = names(network_policies(load_catalog()))
    after = names(network_policies(catalog_with(superset_reads_elasticsearch)))
    assert after - before == {
        ("dp-presentation", "egress-superset-to-elasticsearch"),
        ("dp-logs", "ingress-superset-to-elasticsearch"),
    }
    assert before - after == set()


def test_removing_a_flow_removes_its_policies():
    def dbt_stops_using_dremio(document):
        next(s for s in document["services"] if s["name"] == "dbt")["uses"].remove("dremio")

    before = names(network_policies(load_catalog()))
    after = names(network_policies(catalog_with(dbt_stops_using_dremio)))
    assert before - after == {("dp-lakehouse", "egress-dbt-to-dremio"), ("dp-lakehouse", "ingress-dbt-to-dremio")}


def test_a_role_losing_storage_loses_the_lake():
    def ingestion_without_storage(document):
        next(r for r in document["roles"] if r["name"] == "ingestion")["storage"] = False

    after = names(network_policies(catalog_with(ingestion_without_storage)))
    assert ("dp-ingestion", "egress-airbyte-to-object-store") not in after


def test_prod_reaches_s3_and_rds_outside_the_cluster_by_port():
    manifests = {m["metadata"]["name"]: m for m in network_policies(load_catalog(), PROD_EXTERNAL)}
    s3 = manifests["egress-dremio-to-object-store"]["spec"]["egress"][0]
    assert s3 == {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 443}]}
    assert "ingress-dremio-to-object-store" not in manifests
