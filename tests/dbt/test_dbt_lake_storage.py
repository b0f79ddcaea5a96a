"""On the local target the lake is the models' storage: DuckDB holds views of the lake's files and no table, and
the lake-stored incremental materialization refuses what it does not support with a message saying what to do.
The live `orders` view is checked by one row_rules test, which names every rule a broken view breaks."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from support.dbt_workspace import DBT_PYTHON, REPO_ROOT, Workspace

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
        command = [str(DBT_PYTHON.with_name("dbt")), *args, "--project-dir", str(self.dir), "--profiles-dir",
                   str(self.dir), "--target", "local"]
        return subprocess.run(command, cwd=REPO_ROOT, env=self.workspace.env, capture_output=True, text=True,
                              timeout=900)


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


def test_a_changed_column_list_stops_the_incremental_build_and_says_how_to_rebuild(project: ProjectCopy):
    project.edit("models/staging/postgres/stg_postgres__orders.sql", "    newest.loaded_at,\n",
                 "    newest.loaded_at,\n    1 as added_column,\n")
    result = project.dbt("build", "--select", "stg_postgres__orders")
    assert result.returncode != 0
    assert "its columns changed" in result.stdout and "on_schema_change is 'fail'" in result.stdout
    assert "--full-refresh --select stg_postgres__orders" in result.stdout
    rebuilt = project.dbt("run", "--select", "stg_postgres__orders", "--full-refresh")
    assert rebuilt.returncode == 0, rebuilt.stdout[-6000:]


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
