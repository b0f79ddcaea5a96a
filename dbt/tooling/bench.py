"""Benchmark: end-to-end `dbt build` on `local` at 1M and 10M orders, a dashboard query on daily_revenue,
and the same 1M build on `postgres`; wall time and peak memory (max RSS of the measured process) for each.

    PYTHONPATH=dbt .venv-dbt/bin/python -m tooling.bench [--orders 1000000,10000000] [--postgres-orders 1000000]

Data is generated under build/bench/ (generation is timed but not part of the build). The postgres build uses
DBT_PG_* when DBT_PG_USER is set, otherwise a throwaway local server (needs PostgreSQL's server binaries).
Results are printed and written to build/bench/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from tooling import layout
from tooling.errors import UsageError, cli

BENCH_DIR = layout.BUILD_DIR / "bench"
_MEASURE = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
            "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
            "print(rc, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
DASHBOARD_SQL = """
select order_date, daily_revenue, order_count
from read_parquet('{path}/**/*.parquet')
where order_date > date '2025-10-16' - interval 30 day
order by order_date
"""
_QUERY = """
import json, resource, statistics, sys, time
import duckdb
con = duckdb.connect()
timings = []
for _ in range(21):
    t = time.perf_counter(); rows = con.execute(sys.argv[1]).fetchall(); timings.append(time.perf_counter() - t)
print(json.dumps({"rows": len(rows), "first_ms": timings[0] * 1000, "median_ms": statistics.median(timings[1:]) * 1000,
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(command: list[str], env: dict[str, str]) -> dict:
    """Run a command in a fresh process; its wall time and peak resident memory."""
    out = subprocess.run([sys.executable, "-c", _MEASURE, *command], env=env, capture_output=True, text=True)
    rc, seconds, rss_kb = out.stdout.split()
    if int(rc):
        raise RuntimeError(f"{' '.join(command[:3])} failed (exit {rc}); rerun it by hand to see why")
    return {"seconds": round(float(seconds), 2), "max_rss_mb": round(int(rss_kb) / 1024)}


def workspace_env(orders: int) -> dict[str, str]:
    folder = BENCH_DIR / f"orders-{orders}"
    return {**os.environ, "PYTHONPATH": str(layout.DBT_DIR), "DBT_LAKE_ROOT": str(folder / "lake"),
            "DBT_DUCKDB_PATH": str(folder / "dataplatform.duckdb"), "DBT_TARGET_PATH": str(folder / "target"),
            "DBT_LOG_PATH": str(folder / "logs"), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}


def dbt_build(env: dict[str, str], target: str) -> list[str]:
    return [str(Path(sys.executable).with_name("dbt")), "build", "--full-refresh", "--project-dir",
            str(layout.DBT_DIR), "--profiles-dir", str(layout.DBT_DIR), "--target", target]


def generate(orders: int, env: dict[str, str]) -> dict:
    return measure([sys.executable, "-m", "tooling.generate", "--orders", str(orders)], env)


def bench_local(orders: int) -> dict:
    env = workspace_env(orders)
    result = {"orders": orders, "target": "local", "generate": generate(orders, env)}
    result["dbt_build"] = measure(dbt_build(env, "local"), env)
    gold = Path(env["DBT_LAKE_ROOT"]) / "gold" / "daily_revenue"
    query = subprocess.run([sys.executable, "-c", _QUERY, DASHBOARD_SQL.format(path=gold)], capture_output=True,
                           text=True, check=True)
    result["dashboard_query"] = {k: round(v, 2) for k, v in json.loads(query.stdout).items()}
    return result


def bench_postgres(orders: int) -> dict:
    env = workspace_env(orders)
    with ExitStack() as stack:
        if not env.get("DBT_PG_USER"):
            sys.path.insert(0, str(layout.REPO_ROOT / "tests"))
            from support.postgres import PostgresServer

            server = stack.enter_context(PostgresServer.start(settings={"shared_buffers": "1GB", "work_mem": "256MB",
                                                                        "max_wal_size": "8GB"}))
            server.create_database("dataplatform")
            env.update({"DBT_PG_HOST": server.host, "DBT_PG_PORT": str(server.port), "DBT_PG_USER": "postgres",
                        "DBT_PG_DATABASE": "dataplatform", "DBT_PG_SSLMODE": "disable"})
        result = {"orders": orders, "target": "postgres", "generate": generate(orders, env)}
        result["load_bronze"] = measure([sys.executable, "-m", "tooling.load_postgres"], env)
        result["dbt_build"] = measure(dbt_build(env, "postgres"), env)
        return result


def report(results: list[dict]) -> list[str]:
    lines = ["| orders | target | generate s | load s | dbt build s | build peak MB | query median ms | query MB |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        q = r.get("dashboard_query", {})
        lines.append(f"| {r['orders']:,} | {r['target']} | {r['generate']['seconds']} | "
                     f"{r.get('load_bronze', {}).get('seconds', '-')} | {r['dbt_build']['seconds']} | "
                     f"{r['dbt_build']['max_rss_mb']} | {q.get('median_ms', '-')} | {q.get('max_rss_mb', '-')} |")
    return lines


def _orders_list(text: str) -> list[int]:
    try:
        return [int(part.replace("_", "")) for part in text.split(",") if part]
    except ValueError:
        raise UsageError(f"'{text}' is not a comma-separated list of order counts, e.g. 1000000,10000000") from None


@cli
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tooling.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--orders", default="1000000,10000000")
    parser.add_argument("--postgres-orders", default="1000000", help="empty to skip the postgres build")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    results = []
    for orders in _orders_list(args.orders):
        print(f"local, {orders:,} orders ...", flush=True)
        results.append(bench_local(orders))
    for orders in _orders_list(args.postgres_orders):
        print(f"postgres, {orders:,} orders ...", flush=True)
        results.append(bench_postgres(orders))
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    (BENCH_DIR / "results.json").write_text(json.dumps(results, indent=2))
    print("\n".join(report(results)))
    print(f"machine: {os.cpu_count()} cores; details in {BENCH_DIR / 'results.json'}")
    started = time.strftime("%Y-%m-%d")
    print(f"measured {started}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
