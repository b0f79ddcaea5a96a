"""The generator is deterministic, follows the lake mapping, and writes every kind of dirt staging must handle."""

from __future__ import annotations

from collections import defaultdict

import pytest

from infra.model.catalog import load_catalog
from infra.model.lake import local_path

pytestmark = pytest.mark.integration

ORDERS = 5000


@pytest.fixture(scope="module")
def generated(tmp_path_factory, dbt_venv):
    from support.dbt_workspace import Workspace

    workspace = Workspace(root=tmp_path_factory.mktemp("sample"), extra_env={})
    workspace.generate(ORDERS)
    return workspace, workspace.rows("bronze", "postgres/customers"), workspace.rows("bronze", "postgres/orders")


def test_same_arguments_give_the_same_rows(generated, tmp_path):
    _, customers, orders = generated
    from support.dbt_workspace import Workspace

    again = Workspace(root=tmp_path, extra_env={})
    again.generate(ORDERS)
    assert again.rows("bronze", "postgres/orders") == orders
    assert again.rows("bronze", "postgres/customers") == customers
    other = Workspace(root=tmp_path / "other", extra_env={})
    other.generate(ORDERS, "--seed", "7")
    assert other.rows("bronze", "postgres/orders") != orders


def test_files_sit_in_the_catalog_prefixes_with_snappy(generated):
    workspace, _, _ = generated
    for dataset in load_catalog().bronze_datasets():
        if dataset.source != "postgres":
            continue
        files = sorted(local_path("bronze", dataset.prefix, workspace.lake).glob("date=*/*.parquet"))
        assert [f.parent.name for f in files] == ["date=2025-10-14", "date=2025-10-15", "date=2025-10-16"]
        assert workspace.query(
            f"select distinct compression from parquet_metadata('{files[0].parent.parent}/*/*.parquet')"
        ) == [["SNAPPY"]]


def test_scale_and_realistic_shape(generated):
    _, customers, orders = generated
    order_ids = {r["order_id"] for r in orders if r["order_id"] is not None}
    assert len(order_ids) == ORDERS
    assert len({r["customer_id"] for r in customers if r["customer_id"] is not None}) == ORDERS // 10
    per_customer = defaultdict(int)
    for row in orders:
        per_customer[row["customer_id"]] += 1
    counts = sorted(per_customer.values(), reverse=True)
    assert counts[0] > 5 * counts[len(counts) // 2], "order counts per customer should be skewed"


def test_every_kind_of_dirt_is_present(generated):
    _, customers, orders = generated
    assert any(r["customer_id"] is None for r in customers)
    assert any(r["order_id"] is None for r in orders)
    assert any(r["customer_id"] is None and r["order_id"] is not None for r in orders)
    assert any(r["email"] != r["email"].lower() for r in customers)
    assert any(r["name"] != r["name"].strip() for r in customers)
    amounts = [float(r["amount"]) for r in orders]
    assert any(a == 0 for a in amounts) and any(a < 0 for a in amounts)
    versions = defaultdict(list)
    for r in orders:
        if r["order_id"] is not None:
            versions[r["order_id"]].append((r["_airbyte_extracted_at"], r["updated_at"]))
    assert any(len(v) >= 3 for v in versions.values())
    late = [v for v in versions.values() if any(
        a_loaded > b_loaded and a_updated < b_updated for a_loaded, a_updated in v for b_loaded, b_updated in v)]
    assert late, "some older versions must be loaded after newer ones"
    known = {r["customer_id"] for r in customers}
    assert any(r["customer_id"] is not None and r["customer_id"] not in known for r in orders)
    first_customer_load = {}
    for r in customers:
        first_customer_load[r["customer_id"]] = min(first_customer_load.get(r["customer_id"], "9"), r["date"])
    assert any(r["customer_id"] in first_customer_load and r["date"] < first_customer_load[r["customer_id"]]
               for r in orders), "some orders must arrive in an earlier load than their customer"
    statuses = {r["status"] for r in orders}
    assert any(s != s.strip() for s in statuses) and any(s.isupper() for s in statuses)
