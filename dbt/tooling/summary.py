"""What a build produced: rows per lake layer and model, and rejects by reason, read back from its outputs.

On `local` the silver and gold counts come from the Parquet files in the lake mirror (what consumers read);
on `postgres` from the tables in the silver and gold schemas.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from infra.model.lake import local_path
from tooling import layout
from tooling.dbt_invoke import TARGET_PATH

# The materializations that write a model's rows (on `local`, also to the lake).
WRITTEN = ("table", "incremental")


@dataclass
class BuildSummary:
    rows: dict[str, dict[str, int]] = field(default_factory=dict)   # layer -> name -> rows
    rejects: dict[str, int] = field(default_factory=dict)           # "entity: reason" -> rows

    def lines(self) -> list[str]:
        out = ["rows per layer:"]
        for layer, counts in self.rows.items():
            out.append(f"  {layer:<7}{sum(counts.values()):>14,}")
            out += [f"    {name:<34}{count:>12,}" for name, count in counts.items()]
        out.append("rejects by reason:")
        out += [f"    {reason:<34}{count:>12,}" for reason, count in self.rejects.items()] or ["    none"]
        return out


def lake_models(manifest_path: Path = TARGET_PATH / "manifest.json") -> dict[str, list[str]]:
    """Enabled models per lake layer (their `lake_layer` meta) that write data (tables), from the manifest dbt just
    wrote; views and ephemeral models are read at query time and hold no rows of their own."""
    manifest = json.loads(manifest_path.read_text())
    layers: dict[str, list[str]] = {"silver": [], "gold": []}
    for node in manifest["nodes"].values():
        config = node.get("config", {})
        layer = config.get("meta", {}).get("lake_layer")
        if node["resource_type"] == "model" and layer in layers and config.get("materialized") in WRITTEN:
            layers[layer].append(node["name"])
    return {layer: sorted(names) for layer, names in layers.items()}


def _collect(query, relation, bronze: dict[str, str]) -> BuildSummary:
    summary = BuildSummary()
    summary.rows["bronze"] = {name: query(f"select count(*) from {rel}")[0][0] for name, rel in bronze.items()}
    for layer, models in lake_models().items():
        summary.rows[layer] = {model: query(f"select count(*) from {relation(layer, model)}")[0][0]
                               for model in models}
    rejects = query(f"select entity, reason, count(*) from {relation('silver', 'int_rejects_unioned')} "
                    "group by entity, reason order by entity, reason")
    summary.rejects = {f"{entity}: {reason}": count for entity, reason, count in rejects}
    return summary


def local_summary(root: Path) -> BuildSummary:
    import duckdb

    con = duckdb.connect()
    datasets = [layout.bronze_dataset(*key) for key in (layout.CUSTOMERS, layout.ORDERS)]
    bronze = {d.prefix.rstrip("/"): f"read_parquet('{local_path('bronze', d.prefix, root)}/date=*/*.parquet')"
              for d in datasets}

    def relation(layer: str, model: str) -> str:
        return f"read_parquet('{local_path(layer, model, root)}/**/*.parquet')"

    return _collect(lambda sql: con.execute(sql).fetchall(), relation, bronze)


def postgres_summary(conninfo: str) -> BuildSummary:
    import psycopg

    with psycopg.connect(conninfo) as conn:
        datasets = [layout.bronze_dataset(*key) for key in (layout.CUSTOMERS, layout.ORDERS)]
        bronze = {d.prefix.rstrip("/"): f"bronze.{layout.postgres_table(d)}" for d in datasets}
        return _collect(lambda sql: conn.execute(sql).fetchall(), lambda layer, model: f"{layer}.{model}", bronze)
