"""The pipeline on local DuckDB passes dbt's tests and writes marts equal to expectations computed from bronze."""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal

import pytest
from support.dbt_expectations import expected_from_bronze
from support.dbt_workspace import Workspace

from infra.model.lake import local_path, mart_key

pytestmark = pytest.mark.integration

ORDERS = 3000


@pytest.fixture(scope="module")
def built(tmp_path_factory, dbt_venv):
    workspace = Workspace(root=tmp_path_factory.mktemp("local-build"), extra_env={})
    result = workspace.tool("pipeline", "--orders", str(ORDERS))
    bronze_customers = workspace.rows("bronze", "postgres/customers")
    bronze_orders = workspace.rows("bronze", "postgres/orders")
    return workspace, result.stdout, expected_from_bronze(bronze_customers, bronze_orders)


def test_pipeline_summary_reports_layers_rejects_tests_and_time(built):
    _, stdout, expected = built
    assert "pipeline succeeded" in stdout
    assert "rows per layer:" in stdout and "rejects by reason:" in stdout and "wall time:" in stdout
    line = next(line for line in stdout.splitlines() if "tests passed:" in line)
    passed, total = line.split("tests passed:")[1].replace("of", "").split()
    assert passed == total and int(total) >= 30
    for (entity, reason), count in expected.rejects.items():
        if count:
            assert f"{entity}: {reason}" in stdout


def test_customers_mart_matches_expectation(built):
    workspace, _, expected = built
    rows = {row["customer_id"]: row for row in workspace.rows("gold", mart_key("customers"))}
    # Every customer, those without a completed order too.
    assert set(rows) == set(expected.customers)
    assert set(expected.lifetime_value) < set(rows)
    for customer_id, want in expected.lifetime_value.items():
        got = rows[customer_id]
        assert got["customer_name"] == want["customer_name"]
        assert got["email"] == want["email"]
        assert got["total_orders"] == want["total_orders"]
        assert Decimal(got["lifetime_value"]) == want["lifetime_value"]
        assert abs(Decimal(got["average_order_value"]) - want["average_order_value"]) <= Decimal("0.005")
        assert got["first_order_date"] == want["first_order_date"]
        assert got["last_order_date"] == want["last_order_date"]
        assert got["customer_lifespan_days"] == want["customer_lifespan_days"]
    for customer_id in set(rows) - set(expected.lifetime_value):
        got = rows[customer_id]
        assert (got["customer_name"], got["email"]) == (expected.customers[customer_id]["customer_name"],
                                                        expected.customers[customer_id]["email"])
        assert (got["total_orders"], Decimal(got["lifetime_value"])) == (0, 0)
        assert [got[c] for c in ("average_order_value", "first_order_date", "last_order_date",
                                 "customer_lifespan_days")] == [None] * 4


def test_daily_revenue_mart_matches_expectation(built):
    workspace, _, expected = built
    rows = {row["order_date"]: row for row in workspace.rows("gold", mart_key("daily_revenue"))}
    assert set(rows) == set(expected.daily_revenue)
    for day, want in expected.daily_revenue.items():
        assert Decimal(rows[day]["daily_revenue"]) == want["daily_revenue"]
        assert rows[day]["order_count"] == want["order_count"]
    total_ltv = sum(c["lifetime_value"] for c in expected.lifetime_value.values())
    assert sum(Decimal(r["daily_revenue"]) for r in rows.values()) == total_ltv


def test_every_bronze_row_is_kept_rejected_or_superseded(built):
    workspace, _, expected = built
    rejects = Counter((r["entity"], r["reason"]) for r in workspace.rows("silver", "int_rejects_unioned"))
    assert rejects == +expected.rejects
    kept_orders = [r for r in workspace.rows("silver", "int_orders_validated") if r["reject_reason"] is None]
    assert {r["order_id"] for r in kept_orders} == set(expected.usable_orders)
    stg_orders = workspace.rows("silver", "stg_postgres__orders")
    stg_customers = workspace.rows("silver", "stg_postgres__customers")
    assert sum(r["versions_seen"] - 1 for r in stg_orders) == expected.superseded["order"]
    assert sum(r["versions_seen"] - 1 for r in stg_customers) == expected.superseded["customer"]
    bronze_orders = len(workspace.rows("bronze", "postgres/orders"))
    order_rejects = sum(n for (entity, _), n in rejects.items() if entity == "order")
    assert bronze_orders == len(kept_orders) + order_rejects + expected.superseded["order"]


def test_staging_cleans_names_emails_and_statuses(built):
    workspace, _, expected = built
    customers = workspace.rows("silver", "stg_postgres__customers")
    assert {r["customer_id"]: (r["customer_name"], r["email"]) for r in customers if r["customer_id"] is not None} == {
        cid: (c["customer_name"], c["email"]) for cid, c in expected.customers.items()}
    statuses = {r["status"] for r in workspace.rows("silver", "int_orders_validated") if r["reject_reason"] is None}
    assert statuses == {"pending", "shipped", "completed", "cancelled", "returned"}


def test_layers_are_written_where_the_lake_mapping_says_with_the_catalog_codecs(built):
    workspace, _, _ = built
    from infra.model.catalog import load_catalog

    catalog = load_catalog()
    codec = {layer: catalog.lake.layer(layer).codec.upper() for layer in ("silver", "gold")}
    expected_folders = {("gold", m.name) for m in catalog.marts} | {
        ("silver", name) for name in ("stg_postgres__customers", "stg_postgres__orders", "int_orders_validated",
                                      "int_rejects_unioned")}
    for layer, model in expected_folders:
        folder = local_path(layer, mart_key(model), workspace.lake)
        files = list(folder.rglob("*.parquet"))
        assert files, f"no Parquet written to {folder}"
        assert workspace.query(
            f"select distinct compression from parquet_metadata('{folder}/**/*.parquet')") == [[codec[layer]]]


def test_silver_is_bucketed_by_business_key_and_gold_by_period_within_bounds(built):
    """Silver: at most the catalog's bucket count of folders per model, each key in one; gold: one folder per month
    of the mart's date. Neither grows with the number of orders: the buckets are fixed and the generated history
    spans the same two years at any scale, so 10M orders make as many folders as these 3,000."""
    workspace, _, expected = built
    from infra.model.catalog import MAX_PARTITION_FOLDERS, load_catalog

    lake = load_catalog().lake
    buckets = lake.layer("silver").buckets
    assert buckets <= MAX_PARTITION_FOLDERS
    for model, key in (("stg_postgres__orders", "order_id"), ("int_orders_validated", "order_id"),
                       ("stg_postgres__customers", "customer_id")):
        folder = local_path("silver", model, workspace.lake)
        names = {path.name for path in folder.iterdir() if path.is_dir()}
        assert names and names <= {f"key_bucket={n}" for n in range(buckets)}, names
        assert not list(folder.glob("*.parquet")), "rows outside the bucket folders"
        placed = defaultdict(set)
        for row in workspace.rows("silver", model):
            placed[row[key]].add(row["key_bucket"])
        assert all(len(found) == 1 for found in placed.values()), f"{model}: a key in two buckets"
    assert lake.layer("gold").period == "month"
    folder = local_path("gold", mart_key("daily_revenue"), workspace.lake)
    months = {f"year={day[:4]}/month={int(day[5:7])}" for day in expected.daily_revenue}
    assert {path.parent.relative_to(folder).as_posix() for path in folder.rglob("*.parquet")} == months
    assert len(months) <= 26 <= MAX_PARTITION_FOLDERS


def test_docs_generate_works_after_a_build(built):
    workspace, _, _ = built
    workspace.tool("docs")
    assert (workspace.root / "dbt" / "target" / "catalog.json").exists()
