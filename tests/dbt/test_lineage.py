"""The program's reading of dbt's lineage (infra/model/lineage.py), which decides at plan time which Airbyte
connections the batch syncs and which Dremio tables carry the marts' reflection refresh policy, agrees with the
manifest dbt itself writes (`dbt parse` on the dremio target): the same source tables upstream of the marts, the same
materializations, the same nearest tables under each mart."""

from __future__ import annotations

import json

import pytest
from support.dbt_workspace import Workspace

from infra.model import lineage
from infra.model.catalog import load_catalog

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def manifest(tmp_path_factory, dbt_venv) -> dict:
    workspace = Workspace(root=tmp_path_factory.mktemp("lineage-parse"),
                          extra_env={"DBT_DREMIO_HOST": "dremio.invalid", "DBT_DREMIO_USER": "dbt",
                                     "DBT_DREMIO_PASSWORD": "p"})
    workspace.dbt("parse", target="dremio")
    return json.loads((workspace.root / "dbt" / "target" / "manifest.json").read_text())


def _name(unique_id: str) -> str:
    return unique_id.split(".")[-1]


def _models(manifest: dict) -> dict[str, dict]:
    return {node["name"]: node for node in manifest["nodes"].values() if node["resource_type"] == "model"}


def test_the_marts_source_tables_are_dbts(manifest):
    models = lineage.read_models()
    marts = lineage.mart_models(models)
    assert marts == sorted(name for name, node in _models(manifest).items() if node["fqn"][1] == "marts")
    parents = manifest["parent_map"]
    found, pending, seen = set(), [f"model.dataplatform.{mart}" for mart in marts], set()
    while pending:
        node = pending.pop()
        if node in seen:
            continue
        seen.add(node)
        for parent in parents.get(node, []):
            if parent.startswith("source."):
                found.add(tuple(parent.split(".")[2:4]))
            else:
                pending.append(parent)
    assert lineage.upstream_sources(models, marts) == found
    assert lineage.mart_sources(load_catalog()) == tuple(sorted({source for source, _ in found}))


def test_each_models_refs_and_materialization_on_dremio_are_dbts(manifest):
    models = lineage.read_models()
    parsed = _models(manifest)
    assert sorted(models) == sorted(parsed)
    for name, node in parsed.items():
        parents = manifest["parent_map"][node["unique_id"]]
        assert models[name].refs == tuple(sorted(_name(p) for p in parents if p.startswith("model."))), name
        assert models[name].sources == tuple(sorted(tuple(p.split(".")[2:4]) for p in parents
                                                    if p.startswith("source."))), name
        assert models[name].materialized == node["config"]["materialized"], name


def test_the_tables_under_each_mart_are_the_physical_datasets_dbt_builds(manifest):
    models = lineage.read_models()
    parsed = _models(manifest)
    for mart in lineage.mart_models(models):
        tables = lineage.dremio_tables_under(models, mart)
        assert tables, mart
        for table in tables:
            assert parsed[table]["config"]["materialized"] in lineage.PHYSICAL
            assert parsed[table]["database"] == "lake_write"
