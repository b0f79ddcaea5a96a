"""Every bronze source declares its freshness on `_airbyte_extracted_at`, with thresholds from when it is synced (its
schedule in the catalog, or the batch's for a source the marts read), and `dbt source freshness` calls a source late
or stale by the time its newest record was read."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from support.dbt_workspace import DBT_PYTHON, Workspace

from infra.model.catalog import load_catalog
from infra.model.lineage import mart_sources

pytestmark = pytest.mark.integration

# What each schedule of the catalog gives (warn, error), in dbt's terms.
THRESHOLDS = {
    "15m": ({"count": 30, "period": "minute"}, {"count": 1, "period": "hour"}),
    "30m": ({"count": 1, "period": "hour"}, {"count": 2, "period": "hour"}),
    "1h": ({"count": 2, "period": "hour"}, {"count": 4, "period": "hour"}),
    "continuous": ({"count": 30, "period": "minute"}, {"count": 1, "period": "hour"}),
    "1d": ({"count": 48, "period": "hour"}, {"count": 96, "period": "hour"}),
}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory, dbt_venv) -> dict:
    workspace = Workspace(root=tmp_path_factory.mktemp("freshness-parse"), extra_env={})
    workspace.dbt("parse")
    return json.loads((workspace.root / "dbt" / "target" / "manifest.json").read_text())


def test_every_source_declares_freshness_from_its_schedule(manifest):
    catalog = load_catalog()
    batched = set(mart_sources(catalog))
    synced = {source.name: catalog.transformations.schedule if source.name in batched else source.schedule
              for source in catalog.sources}
    assert {schedule.every for schedule in synced.values()} <= set(THRESHOLDS), "a schedule this test lacks"
    declared = {(s["source_name"], s["name"]): s for s in manifest["sources"].values()}
    assert set(declared) == {(d.source, d.stream) for d in catalog.bronze_datasets()}
    for source in catalog.sources:
        warn, error = THRESHOLDS[synced[source.name].every]
        for stream in source.streams:
            node = declared[(source.name, stream.name)]
            assert node["loaded_at_field"] == "_airbyte_extracted_at", node["unique_id"]
            freshness = node["freshness"]
            assert ({k: freshness["warn_after"][k] for k in ("count", "period")},
                    {k: freshness["error_after"][k] for k in ("count", "period")}) == (warn, error), node["unique_id"]


def _land(workspace: Workspace, age: timedelta) -> None:
    """One record in each bronze stream of the postgres source, read by Airbyte `age` ago (UTC)."""
    extracted = (datetime.now(UTC) - age).replace(tzinfo=None).isoformat(sep=" ")
    for stream in ("customers", "orders"):
        folder = workspace.lake / "bronze" / "postgres" / stream / "date=2026-01-01"
        folder.mkdir(parents=True, exist_ok=True)
        sql = (f"copy (select 1 as id, timestamp '{extracted}' as _airbyte_extracted_at) "
               f"to '{folder / 'data.parquet'}' (format parquet)")
        subprocess.run([str(DBT_PYTHON), "-c", f"import duckdb; duckdb.sql({sql!r})"], check=True)


@pytest.mark.parametrize("age_minutes, status", [(10, "pass"), (150, "warn"), (300, "error")])
def test_source_freshness_follows_the_newest_record(workspace, age_minutes, status):
    # postgres is synced by the hourly batch: late (warn) after two hours without a new record, stale (error) after
    # four.
    _land(workspace, timedelta(minutes=age_minutes))
    result = workspace.dbt("source", "freshness", "--select", "source:postgres", check=False)
    results = json.loads((workspace.root / "dbt" / "target" / "sources.json").read_text())["results"]
    assert {r["unique_id"]: r["status"] for r in results} == {
        "source.dataplatform.postgres.customers": status, "source.dataplatform.postgres.orders": status}, result.stdout
    assert (result.returncode == 0) == (status != "error")
