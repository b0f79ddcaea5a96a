"""The postgres target builds the expected marts on a real PostgreSQL and the run lands in dbt_run_history."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest
from support.dbt_expectations import expected_from_bronze

pytestmark = pytest.mark.integration


def test_postgres_target_builds_and_records_the_run(workspace, postgres_server):
    database = postgres_server.create_database("dataplatform")
    history = postgres_server.create_database("metadata")
    workspace.extra_env.update({
        "DBT_PG_HOST": postgres_server.host, "DBT_PG_PORT": str(postgres_server.port), "DBT_PG_USER": "postgres",
        "DBT_PG_DATABASE": "dataplatform", "DBT_PG_SSLMODE": "disable", "DBT_RUN_HISTORY_DSN": history,
    })
    result = workspace.tool("pipeline", "--orders", "2000", "--target", "postgres")
    assert "pipeline succeeded" in result.stdout

    expected = expected_from_bronze(workspace.rows("bronze", "postgres/customers"),
                                    workspace.rows("bronze", "postgres/orders"))
    with psycopg.connect(database) as conn:
        ltv = {row[0]: row[1:] for row in conn.execute(
            "select customer_id, total_orders, lifetime_value from gold.customers")}
        daily = {row[0].isoformat(): row[1:] for row in conn.execute(
            "select order_date, daily_revenue, order_count from gold.daily_revenue")}
        rejects = dict(((e, r), n) for e, r, n in conn.execute(
            "select entity, reason, count(*) from silver.int_rejects_unioned group by 1, 2"))
    assert ltv == {cid: (expected.lifetime_value[cid]["total_orders"], expected.lifetime_value[cid]["lifetime_value"])
                   if cid in expected.lifetime_value else (0, 0) for cid in expected.customers}
    assert daily == {day: (d["daily_revenue"], d["order_count"]) for day, d in expected.daily_revenue.items()}
    assert rejects == +expected.rejects
    assert sum(v[1] for v in ltv.values()) == sum((d[0] for d in daily.values()), Decimal(0))

    with psycopg.connect(history) as conn:
        runs = conn.execute("select project_name, status, models_run, tests_run, started_at <= completed_at, "
                            "metadata->>'target' from platform.dbt_run_history").fetchall()
    assert len(runs) == 1
    project, status, models, tests, ordered, target = runs[0]
    assert (project, status, target, ordered) == ("dataplatform", "success", "postgres", True)
    assert models == 7 and tests >= 30
