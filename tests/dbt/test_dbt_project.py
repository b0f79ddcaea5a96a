"""The dbt project agrees with the catalog (sources, codecs, reflections) and describes every model and column."""

from __future__ import annotations

import json

import pytest
import yaml
from support.dbt_workspace import REPO_ROOT

from infra.model.catalog import load_catalog

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def manifests(tmp_path_factory, dbt_venv):
    """`dbt parse` for the local and the dremio target (parsing needs no server)."""
    from support.dbt_workspace import Workspace

    out = {}
    for target in ("local", "dremio"):
        workspace = Workspace(root=tmp_path_factory.mktemp(target), extra_env={
            "DBT_DREMIO_HOST": "dremio.invalid", "DBT_DREMIO_USER": "u", "DBT_DREMIO_PASSWORD": "p"})
        workspace.dbt("parse", target=target)
        out[target] = json.loads((workspace.root / "dbt" / "target" / "manifest.json").read_text())
    return out


def test_generated_sources_are_up_to_date(dbt_venv):
    from support.dbt_workspace import Workspace

    result = Workspace(root=REPO_ROOT / "build", extra_env={}).tool("bronze_sources", "--check", check=False)
    assert result.returncode == 0, result.stderr


def test_every_catalog_stream_is_a_dbt_source(manifests):
    sources = {(s["source_name"], s["name"]) for s in manifests["local"]["sources"].values()}
    assert sources == {(d.source, d.stream) for d in load_catalog().bronze_datasets()}


def test_sources_resolve_per_target(manifests):
    local = {s["name"]: s for s in manifests["local"]["sources"].values() if s["source_name"] == "postgres"}
    assert local["orders"]["schema"] == "bronze" and local["orders"]["identifier"] == "postgres__orders"
    assert "bronze/postgres/orders/date=*/*.parquet" in local["orders"]["config"]["external_location"]
    dremio = {s["name"]: s for s in manifests["dremio"]["sources"].values() if s["source_name"] == "postgres"}
    orders = dremio["orders"]
    # The defaults, for a laptop against the dev stack: the read-only lake source, then the bronze bucket.
    assert (orders["database"], orders["schema"], orders["identifier"]) == (
        "lake", "dataplatform-dev-bronze.postgres", "orders")


def test_every_model_and_column_is_described(manifests):
    for node in manifests["local"]["nodes"].values():
        if node["resource_type"] != "model":
            continue
        assert node["description"].strip(), f"{node['name']} has no description"
        sql_columns = node["columns"]
        assert sql_columns, f"{node['name']} documents no columns"
        for name, column in sql_columns.items():
            assert column["description"].strip(), f"{node['name']}.{name} has no description"


def test_codecs_match_the_catalog():
    project = yaml.safe_load((REPO_ROOT / "dbt" / "dbt_project.yml").read_text())
    catalog = load_catalog()
    assert project["vars"]["lake_codecs"] == {
        layer: catalog.lake.layer(layer).codec for layer in catalog.transformations.writes}


def test_partitions_match_the_catalog(manifests):
    project = yaml.safe_load((REPO_ROOT / "dbt" / "dbt_project.yml").read_text())
    lake = load_catalog().lake
    assert project["vars"]["lake_partitions"] == {"silver": {"buckets": lake.layer("silver").buckets},
                                                   "gold": {"period": lake.layer("gold").period}}
    # Silver is bucketed by the business key: a staging model's is its stream's primary key in the catalog.
    keys = {f"stg_{d.source}__{d.stream}": list(d.primary_key) for d in load_catalog().bronze_datasets()}
    for node in manifests["local"]["nodes"].values():
        meta = node["config"].get("meta", {})
        if node["resource_type"] != "model" or node["config"]["materialized"] not in ("table", "incremental"):
            continue
        if meta.get("lake_layer") == "silver":
            assert meta.get("business_key"), f"{node['name']}: a silver table needs a business_key"
            if node["name"] in keys:
                assert meta["business_key"] == keys[node["name"]], node["name"]
            assert set(meta["business_key"]) <= set(node["columns"]), node["name"]


def test_reflections_exist_only_on_dremio_and_match_the_catalog(manifests):
    local = {n["name"] for n in manifests["local"]["nodes"].values() if n["resource_type"] == "model"}
    dremio = {n["name"]: n for n in manifests["dremio"]["nodes"].values()
              if n["resource_type"] == "model" and n["config"]["materialized"] == "reflection"}
    assert not local & set(dremio)
    for mart in load_catalog().marts:
        reflection = mart.reflection
        found = [n for n in dremio.values() if n["depends_on"]["nodes"] == [f"model.dataplatform.{mart.name}"]]
        assert len(found) == 1, f"no reflection model on {mart.name}"
        config = found[0]["config"]
        if reflection.type == "raw":
            assert config["reflection_type"] == "raw" and config["display"] == reflection.display
        else:
            assert config["reflection_type"] == "aggregate"
            assert config["dimensions"] == reflection.dimensions and config["measures"] == reflection.measures
        marts = {n["name"]: n for n in manifests["dremio"]["nodes"].values()}
        assert marts[mart.name]["config"]["materialized"] == "view"


def test_exposures_link_the_marts_to_superset(manifests):
    """The generated exposures parse on both targets and hang on the marts' models (dbt docs shows the lineage)."""
    for manifest in manifests.values():
        exposures = {e["name"]: e for e in manifest["exposures"].values()}
        for mart in load_catalog().marts:
            assert exposures[f"superset_dataset_{mart.name}"]["depends_on"]["nodes"] == [
                f"model.dataplatform.{mart.name}"]
        dashboards = [e for e in exposures.values() if e["type"] == "dashboard"]
        assert dashboards
        read = {node for e in dashboards for node in e["depends_on"]["nodes"]}
        assert read == {f"model.dataplatform.{mart.name}" for mart in load_catalog().marts}
