"""NetworkPolicies are derived from the catalog: a flow added to a copy appears, a flow removed goes."""

from __future__ import annotations

from components.runtime.network import flows, network_policies
from infra.model.catalog import load_catalog, parse_catalog
from infra.model.naming import LAYER_NAMESPACES

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
    def superset_stops_using_redis(document):
        next(s for s in document["services"] if s["name"] == "superset")["uses"].remove("redis")

    before = names(network_policies(load_catalog()))
    after = names(network_policies(catalog_with(superset_stops_using_redis)))
    assert before - after == {("dp-presentation", "egress-superset-to-redis"),
                              ("dp-presentation", "ingress-superset-to-redis")}


def test_a_role_losing_storage_loses_the_lake():
    # The products' own roles must keep their keys (infra/model/catalog.py STORAGE_ROLES); a role of the
    # catalog's own may lose them.
    def with_exporter(storage: bool):
        def change(document):
            document["roles"].append({"name": "exporter", "description": "Exports gold.", "reads": ["gold"],
                                      "writes": [], "storage": storage})
            document["services"].append({"name": "exporter", "description": "Exports gold.", "layer": "presentation",
                                         "role": "exporter"})
        return change

    assert ("dp-presentation", "egress-exporter-to-object-store") in names(
        network_policies(catalog_with(with_exporter(True))))
    after = names(network_policies(catalog_with(with_exporter(False))))
    assert ("dp-presentation", "egress-exporter-to-object-store") not in after


def test_prod_reaches_s3_and_rds_outside_the_cluster_by_port():
    manifests = {m["metadata"]["name"]: m for m in network_policies(load_catalog(), PROD_EXTERNAL)}
    s3 = manifests["egress-dremio-to-object-store"]["spec"]["egress"][0]
    assert s3 == {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 443}]}
    assert "ingress-dremio-to-object-store" not in manifests
