"""On the local target the lake is the models' storage: DuckDB holds views of the lake's files and no table, and
the lake-stored incremental materialization refuses what it does not support with a message saying what to do.
The live `orders` view is checked by one row_rules test, which names every rule a broken view breaks."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from support.dbt_workspace import REPO_ROOT, Workspace

pytestmark = pytest.mark.integration

ORDERS = 2000
STORED = {"silver": ["int_orders_validated", "int_rejects_unioned", "stg_postgres__customers", "stg_postgres__orders"],
          "gold": ["customers", "daily_revenue"]}


class ProjectCopy:
    """The dbt project copied into the test's folder, so that a test can change a model and build it."""

    def __init__(self, workspace: Workspace):
        self.workspace = workspace
        self.dir = workspace.root / "project"
        shutil.copytree(REPO_ROOT / "dbt", self.dir, ignore=shutil.ignore_patterns("target", "logs", "tooling"))

    def edit(self, relative: str, old: str, new: str) -> None:
        path = self.dir / relative
        text = path.read_text()
        assert old in text, f"{relative} no longer holds {old!r}"
        path.write_text(text.replace(old, new))

    def dbt(self, *args: str) -> subprocess.CompletedProcess:
        return self.workspace.dbt(*args, check=False, project_dir=self.dir)


@pytest.fixture()
def project(workspace: Workspace) -> ProjectCopy:
    workspace.generate(ORDERS, "--through-load", "2")
    copy = ProjectCopy(workspace)
    first = copy.dbt("build")
    assert first.returncode == 0, first.stdout[-6000:]
    workspace.generate(ORDERS)
    return copy


def test_duckdb_holds_views_of_the_lake_files_and_no_table(project: ProjectCopy):
    workspace = project.workspace
    kinds = dict(workspace.query("select table_schema || '.' || table_name, table_type "
                                 "from information_schema.tables where table_schema in ('silver', 'gold')"))
    for layer, names in STORED.items():
        for name in names:
            assert kinds[f"{layer}.{name}"] == "VIEW", name
            files = workspace.lake / layer / name / "**" / "*.parquet"
            in_lake = workspace.query(f"select count(*) from read_parquet('{files}')")
            assert workspace.query(f"select count(*) from {layer}.{name}") == in_lake, name
    assert "BASE TABLE" not in kinds.values()


@pytest.mark.parametrize(("path", "old", "new"), [
    ("models/staging/postgres/stg_postgres__orders.sql", "    newest.loaded_at,\n",
     "    newest.loaded_at,\n    1 as added_column,\n"),
    ("macros/postgres.sql", "cast(amount as decimal(12, 2))", "cast(amount as decimal(18, 4))"),
], ids=["added column", "changed type"])
def test_a_changed_schema_stops_the_incremental_build_and_says_how_to_rebuild(project: ProjectCopy, path, old, new):
    project.edit(path, old, new)
    result = project.dbt("build", "--select", "stg_postgres__orders")
    assert result.returncode != 0
    assert "its columns changed" in result.stdout and "on_schema_change is 'fail'" in result.stdout
    assert "--full-refresh --select stg_postgres__orders" in result.stdout
    rebuilt = project.dbt("run", "--select", "stg_postgres__orders", "--full-refresh")
    assert rebuilt.returncode == 0, rebuilt.stdout[-6000:]


def test_a_workspace_built_with_duckdb_tables_is_rebuilt_in_full_on_its_first_build(workspace: Workspace):
    """A workspace built before the lake was the storage holds DuckDB tables; its first build must not merge new
    rows into nothing (the incremental SQL over a table this materialization does not keep)."""
    workspace.generate(ORDERS, "--through-load", "2")
    workspace.dbt("build")
    silver = workspace.lake / "silver" / "stg_postgres__orders"
    code = ("import duckdb, sys; con = duckdb.connect(sys.argv[1]); "
            "con.execute('drop view silver.stg_postgres__orders'); "
            "con.execute('create table silver.stg_postgres__orders as '"
            "            f\"select * from read_parquet('{sys.argv[2]}/**/*.parquet')\")")
    workspace.python(code, workspace.env["DBT_DUCKDB_PATH"], str(silver))
    assert workspace.query("select table_type from information_schema.tables "
                           "where table_name = 'stg_postgres__orders'") == [["BASE TABLE"]]
    workspace.generate(ORDERS)
    workspace.dbt("build")
    upgraded = workspace.query("select count(*), sum(versions_seen) from silver.stg_postgres__orders")
    workspace.dbt("build", "--full-refresh")
    assert upgraded == workspace.query("select count(*), sum(versions_seen) from silver.stg_postgres__orders")


def test_an_incremental_model_that_keeps_no_rows_stays_readable(project: ProjectCopy):
    """An empty partitioned folder has no files to read: its view must not be built from the model's incremental
    SQL, which reads the view itself."""
    (project.dir / "models" / "staging" / "postgres" / "stg_postgres__nothing.sql").write_text(
        "{{ config(materialized='incremental', unique_key='order_id', meta={'business_key': ['order_id']}) }}\n"
        "select order_id, loaded_at from {{ ref('stg_postgres__orders') }} where false\n"
        "{% if is_incremental() %} and order_id in (select order_id from {{ this }}) {% endif %}\n")
    for _ in range(3):
        result = project.dbt("run", "--select", "stg_postgres__nothing")
        assert result.returncode == 0, result.stdout[-6000:]
    assert project.workspace.query("select count(*) from silver.stg_postgres__nothing") == [[0]]


def test_an_unsupported_incremental_strategy_is_refused_with_the_supported_ones(project: ProjectCopy):
    project.edit("models/staging/postgres/stg_postgres__orders.sql",
                 "incremental_strategy=('merge' if target.type == 'dremio' else 'delete+insert')",
                 "incremental_strategy='merge'")
    result = project.dbt("run", "--select", "stg_postgres__orders")
    assert result.returncode != 0
    assert "supports the delete+insert and append strategies, not 'merge'" in result.stdout


def test_a_stored_model_outside_the_lake_layers_is_refused(project: ProjectCopy):
    project.edit("dbt_project.yml", "      +meta: {lake_layer: gold}\n", "")
    result = project.dbt("run", "--select", "daily_revenue")
    assert result.returncode != 0
    assert "has no lake layer" in result.stdout and "lake_layer" in result.stdout



def test_row_rules_reads_the_live_view_once_and_names_each_broken_rule(project: ProjectCopy):
    passing = project.dbt("build", "--select", "orders")
    assert passing.returncode == 0, passing.stdout[-6000:]
    assert "PASS row_rules_orders_" in passing.stdout
    # Broken three ways: without its filter the view serves rejected orders (customers missing), an unknown status
    # is spelt out instead of null, and every row is served twice.
    project.edit("models/marts/orders.sql", "        orders.status,\n",
                 "        coalesce(orders.status, 'on_hold') as status,\n")
    project.edit("models/marts/orders.sql", "from checked\nwhere reject_reason is null",
                 "from checked, (values (1), (2)) as twice(copy)")
    failing = project.dbt("build", "--select", "orders", "--store-failures")
    assert failing.returncode != 0
    assert "FAIL" in failing.stdout and "row_rules_orders_" in failing.stdout
    [(schema, table)] = project.workspace.query(
        "select table_schema, table_name from information_schema.tables where table_name like 'row_rules_orders%'")
    [(keys, copies, null_customers, unknown_statuses)] = project.workspace.query(
        "select count(*), min(rows_with_key), sum(null_customer_id), sum(status_not_accepted) "
        f'from "{schema}"."{table}"')
    assert keys > 100 and copies == 2 and null_customers > 0 and unknown_statuses > 0
