"""The hand-written SQL floor `make dbt-bench` times dbt against writes the same data as dbt's build, and the
benchmark refuses what it cannot do (too little disk, bad sizes) with a clear message before it starts."""

from __future__ import annotations

import json

import pytest
from support.dbt_workspace import REPO_ROOT, Workspace

pytestmark = pytest.mark.integration

ORDERS = 20_000

_PARITY = """
import json, sys
from pathlib import Path
from tooling import floor
lake, out, db = map(Path, sys.argv[1:4])
dbt_side, floor_side = floor.checksums(lake), floor.checksums(out)
view, usable = floor.live_orders_checksums(db, out)
# The checksum sees one row: the floor's daily revenue without its first day.
import duckdb
con = duckdb.connect()
relation = floor.lake_relation(out, "gold", "daily_revenue")
short = floor.checksum(con, f"(select * from {relation} where order_date > (select min(order_date) from {relation}))")
print(json.dumps({"dbt": dbt_side, "floor": floor_side, "view": view, "usable": usable, "short": short}))
"""


@pytest.fixture(scope="module")
def both(tmp_path_factory, dbt_venv):
    workspace = Workspace(root=tmp_path_factory.mktemp("floor"), extra_env={})
    workspace.generate(ORDERS)
    workspace.dbt("build", "--full-refresh")
    out = workspace.root / "floor"
    floor_run = workspace.tool("floor", "--out", str(out), "--json")
    result = workspace.python(_PARITY, str(workspace.lake), str(out), workspace.env["DBT_DUCKDB_PATH"])
    return json.loads(floor_run.stdout), json.loads(result.stdout)


def test_the_floor_writes_every_dataset_dbt_writes_row_for_row(both):
    _, sums = both
    assert set(sums["dbt"]) == {"silver/stg_postgres__customers", "silver/stg_postgres__orders",
                                "silver/int_orders_validated", "silver/int_rejects_unioned", "gold/customers",
                                "gold/daily_revenue"}
    for name, dbt_side in sums["dbt"].items():
        assert dbt_side["rows"] > 0, name
        assert sums["floor"][name] == dbt_side, name


def test_dbt_live_orders_view_holds_the_usable_orders_after_a_full_build(both):
    _, sums = both
    assert sums["view"] == sums["usable"]
    assert 0 < sums["view"]["rows"] < sums["dbt"]["silver/int_orders_validated"]["rows"]


def test_the_checksum_sees_a_missing_row(both):
    _, sums = both
    whole = sums["floor"]["gold/daily_revenue"]
    assert sums["short"]["rows"] == whole["rows"] - 1
    assert sums["short"]["hash"] != whole["hash"]


def test_the_floor_reports_each_step(both):
    run, _ = both
    assert set(run["steps"]) >= {"stg_postgres__orders", "int_orders_validated", "customers", "daily_revenue"}
    assert run["seconds"] > 0 and run["max_rss_mb"] > 0


def test_the_floor_runs_duckdb_with_the_build_settings(dbt_venv):
    code = ("import json; from tooling import floor; print(json.dumps(floor.duckdb_settings()))")
    result = Workspace(root=REPO_ROOT, extra_env={"DBT_DUCKDB_MEMORY_LIMIT": "3GB"}).python(code)
    settings = json.loads(result.stdout)
    assert settings["memory_limit"] == "3GB"
    assert settings["preserve_insertion_order"] == "false"


def test_the_floor_without_bronze_says_what_to_run(tmp_path, dbt_venv):
    workspace = Workspace(root=tmp_path, extra_env={})
    result = workspace.tool("floor", "--out", str(tmp_path / "floor"), check=False)
    assert result.returncode == 2
    assert "no bronze Parquet files" in result.stderr and "tooling.generate" in result.stderr


_BENCH = """
import json, shutil, sys
from collections import namedtuple
from pathlib import Path
from tooling import bench
from tooling.errors import UsageError
out = {}
Usage = namedtuple("Usage", "total used free")
shutil.disk_usage = lambda path: Usage(100 * 2**30, 90 * 2**30, 10 * 2**30)
try:
    bench.check_disk(Path(sys.argv[1]), 100_000_000)
except UsageError as error:
    out["disk"] = str(error)
bench.check_disk(Path(sys.argv[1]), 1_000_000)
out["rc_bad_list"] = bench.main(["--orders", "1M"])
out["rc_disk"] = bench.main(["--orders", "100000000", "--parity-orders", "", "--work-dir", sys.argv[1]])
out["judged"] = bench.judge(10_000_000, {"seconds": 14.2, "max_rss_mb": 2100})
print(json.dumps(out))
"""


def test_the_bench_refuses_a_size_the_disk_cannot_hold_and_bad_sizes(tmp_path, dbt_venv):
    result = Workspace(root=tmp_path, extra_env={}).python(_BENCH, str(tmp_path / "bench"))
    out = json.loads(result.stdout)
    assert "100,000,000 orders need about 41.9 GiB free" in out["disk"] and "10.0 GiB is free" in out["disk"]
    assert "--work-dir" in out["disk"]
    assert out["rc_bad_list"] == 2 and "'1M' is not a comma-separated list" in result.stderr
    assert out["rc_disk"] == 2
    assert out["judged"] == {"seconds": {"limit": 15.0, "measured": 14.2, "met": True},
                             "max_rss_mb": {"limit": 2048, "measured": 2100, "met": False}}
