"""The Lambda model on DuckDB: the batch's watermark splits the rows landed after it (hot) from the history the
batch built (cold); the `orders` view unifies both when queried, so an update, a delete and a row landed exactly
at the watermark show before the next batch, and the next batch gives the same, with every bronze row counted
once."""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal

import pytest
from support.dbt_workspace import DBT_PYTHON, Workspace

pytestmark = pytest.mark.integration

# Two Airbyte loads of the postgres source, as its CDC sync writes them (the columns of tooling.sample_data).
FIRST_LOAD = "2026-01-05 02:00:00"
SECOND_LOAD = "2026-01-05 02:30:00"
CUSTOMERS = [
    # customer_id, name, email, updated_at, _ab_cdc_deleted_at, _airbyte_extracted_at
    (1, "ada lovelace", "Ada@Example.com", "2026-01-04 10:00:00", None, FIRST_LOAD),
    (2, "alan turing", "alan@example.com", "2026-01-04 11:00:00", None, FIRST_LOAD),
]
FIRST_ORDERS = [
    # order_id, customer_id, order_date, amount, status, updated_at, _ab_cdc_deleted_at, _airbyte_extracted_at
    (10, 1, "2026-01-03", "100.00", "completed", "2026-01-04 12:00:00", None, FIRST_LOAD),
    (11, 2, "2026-01-03", "50.00", "completed", "2026-01-04 12:05:00", None, FIRST_LOAD),
    (12, 1, "2026-01-04", "30.00", "pending", "2026-01-04 12:10:00", None, FIRST_LOAD),
]
LANDED_AFTER_THE_BATCH = [
    # An update of an order the batch holds.
    (10, 1, "2026-01-03", "120.00", "delivered", "2026-01-05 01:00:00", None, SECOND_LOAD),
    # A delete: Postgres sends the key only, the commit time in _ab_cdc_updated_at and _ab_cdc_deleted_at.
    (11, None, None, None, None, "2026-01-05 01:10:00", "2026-01-05 01:10:00", SECOND_LOAD),
    # A new order extracted at the batch's watermark itself, landed after the batch read bronze.
    (13, 2, "2026-01-04", "70.00", "completed", "2026-01-05 00:59:00", None, FIRST_LOAD),
]

_WRITE = """
import json, sys
from decimal import Decimal
from datetime import date, datetime
import pyarrow as pa, pyarrow.parquet as pq
kind, path, rows = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
ts = lambda v: None if v is None else datetime.fromisoformat(v)
if kind == "customers":
    names = ["customer_id", "name", "email", "updated_at", "_ab_cdc_deleted_at", "_airbyte_extracted_at"]
    cols = {n: [r[i] for r in rows] for i, n in enumerate(names)}
    table = pa.table({
        "customer_id": pa.array(cols["customer_id"], pa.int64()), "name": pa.array(cols["name"], pa.string()),
        "email": pa.array(cols["email"], pa.string()), "phone": pa.nulls(len(rows), pa.string()),
        "city": pa.nulls(len(rows), pa.string()), "state": pa.nulls(len(rows), pa.string()),
        "zip_code": pa.nulls(len(rows), pa.string()),
        "created_at": pa.array([ts(v) for v in cols["updated_at"]], pa.timestamp("us")),
        "updated_at": pa.array([ts(v) for v in cols["updated_at"]], pa.timestamp("us")),
        "_airbyte_raw_id": pa.array([f"c-{path}-{i}" for i in range(len(rows))], pa.string()),
        "_airbyte_extracted_at": pa.array([ts(v) for v in cols["_airbyte_extracted_at"]], pa.timestamp("us")),
        "_ab_cdc_updated_at": pa.array([ts(v) for v in cols["updated_at"]], pa.timestamp("us")),
        "_ab_cdc_deleted_at": pa.array([ts(v) for v in cols["_ab_cdc_deleted_at"]], pa.timestamp("us")),
    })
else:
    names = ["order_id", "customer_id", "order_date", "amount", "status", "updated_at", "_ab_cdc_deleted_at",
             "_airbyte_extracted_at"]
    cols = {n: [r[i] for r in rows] for i, n in enumerate(names)}
    deleted = [v is not None for v in cols["_ab_cdc_deleted_at"]]
    table = pa.table({
        "order_id": pa.array(cols["order_id"], pa.int64()), "customer_id": pa.array(cols["customer_id"], pa.int64()),
        "order_date": pa.array([None if v is None else date.fromisoformat(v) for v in cols["order_date"]], pa.date32()),
        "amount": pa.array([None if v is None else Decimal(v) for v in cols["amount"]], pa.decimal128(12, 2)),
        "status": pa.array(cols["status"], pa.string()),
        # A delete carries no row image: updated_at is empty, the commit time is _ab_cdc_updated_at.
        "updated_at": pa.array([None if d else ts(v) for v, d in zip(cols["updated_at"], deleted)], pa.timestamp("us")),
        "_airbyte_raw_id": pa.array([f"o-{path}-{i}" for i in range(len(rows))], pa.string()),
        "_airbyte_extracted_at": pa.array([ts(v) for v in cols["_airbyte_extracted_at"]], pa.timestamp("us")),
        "_ab_cdc_updated_at": pa.array([ts(v) for v in cols["updated_at"]], pa.timestamp("us")),
        "_ab_cdc_deleted_at": pa.array([ts(v) for v in cols["_ab_cdc_deleted_at"]], pa.timestamp("us")),
    })
pq.write_table(table, path)
"""


def land(workspace: Workspace, stream: str, day: str, name: str, rows: list[tuple]) -> None:
    folder = workspace.lake / "bronze" / "postgres" / stream / f"date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(DBT_PYTHON), "-c", _WRITE, stream, str(folder / name), json.dumps(rows)], check=True)


def live_orders(workspace: Workspace) -> dict[int, tuple]:
    rows = workspace.query("select order_id, customer_id, amount, status from gold.orders order by order_id")
    assert len(rows) == len({row[0] for row in rows}), f"an order is counted twice: {rows}"
    return {row[0]: (row[1], Decimal(str(row[2])), row[3]) for row in rows}


def batch_marts(workspace: Workspace) -> tuple[dict, dict]:
    customers = {row[0]: (row[1], Decimal(str(row[2]))) for row in workspace.query(
        "select customer_id, total_orders, lifetime_value from gold.customers")}
    daily = {row[0]: (Decimal(str(row[1])), row[2]) for row in workspace.query(
        "select cast(order_date as varchar), daily_revenue, order_count from gold.daily_revenue")}
    return customers, daily


def staged(workspace: Workspace) -> dict[int, tuple]:
    return {row[0]: tuple(row[1:]) for row in workspace.query(
        "select order_id, versions_seen, deleted_at is not null, cast(last_loaded_at as varchar) "
        "from silver.stg_postgres__orders")}


BEFORE = {10: (1, Decimal("100.00"), "completed"), 11: (2, Decimal("50.00"), "completed"),
          12: (1, Decimal("30.00"), "pending")}
AFTER = {10: (1, Decimal("120.00"), "completed"), 12: (1, Decimal("30.00"), "pending"),
         13: (2, Decimal("70.00"), "completed")}


def test_updates_deletes_and_rows_at_the_watermark_show_before_the_next_batch_and_count_once(workspace):
    land(workspace, "customers", "2026-01-05", "first.parquet", CUSTOMERS)
    land(workspace, "orders", "2026-01-05", "first.parquet", FIRST_ORDERS)
    workspace.dbt("build")
    assert live_orders(workspace) == BEFORE
    batch_before = batch_marts(workspace)
    assert batch_before == ({1: (1, Decimal("100.00")), 2: (1, Decimal("50.00"))},
                            {"2026-01-03": (Decimal("150.00"), 2)})

    # Landed after the batch: the unified view shows them at once; the batch's marts wait for the next batch.
    land(workspace, "orders", "2026-01-05", "second.parquet", LANDED_AFTER_THE_BATCH)
    assert live_orders(workspace) == AFTER
    assert batch_marts(workspace) == batch_before

    # The next batch reads from its watermark on: the row landed at the watermark is not lost, the rows it read
    # at the watermark before are not read twice, the delete stays a delete.
    workspace.dbt("build")
    assert live_orders(workspace) == AFTER
    after_batch = batch_marts(workspace)
    assert after_batch == ({1: (1, Decimal("120.00")), 2: (1, Decimal("70.00"))},
                           {"2026-01-03": (Decimal("120.00"), 1), "2026-01-04": (Decimal("70.00"), 1)})
    assert staged(workspace) == {10: (2, False, SECOND_LOAD), 11: (2, True, SECOND_LOAD),
                                 12: (1, False, FIRST_LOAD), 13: (1, False, FIRST_LOAD)}

    # Nothing new: another batch changes nothing; a full rebuild from bronze gives the same.
    workspace.dbt("build")
    assert (live_orders(workspace), batch_marts(workspace)) == (AFTER, after_batch)
    assert staged(workspace)[10] == (2, False, SECOND_LOAD)
    workspace.dbt("build", "--full-refresh")
    assert (live_orders(workspace), batch_marts(workspace), staged(workspace)[10][0]) == (AFTER, after_batch, 2)


def test_a_delete_landed_before_an_older_version_keeps_the_row_deleted(workspace):
    land(workspace, "customers", "2026-01-05", "first.parquet", CUSTOMERS)
    land(workspace, "orders", "2026-01-05", "first.parquet", [*FIRST_ORDERS, LANDED_AFTER_THE_BATCH[1]])
    workspace.dbt("build")
    assert 11 not in live_orders(workspace)
    # An update committed before the delete, landed after it: it loses to the delete, hot and cold.
    late = (11, 2, "2026-01-03", "55.00", "completed", "2026-01-04 12:30:00", None, "2026-01-05 03:00:00")
    land(workspace, "orders", "2026-01-05", "late.parquet", [late])
    assert 11 not in live_orders(workspace)
    workspace.dbt("build")
    assert 11 not in live_orders(workspace)
    assert staged(workspace)[11] == (3, True, "2026-01-05 03:00:00")
