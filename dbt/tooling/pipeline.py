"""The one-command pipeline: generate bronze sample data, then `dbt build`, then a summary.

    PYTHONPATH=dbt .venv-dbt/bin/python -m tooling.pipeline [--orders 100000] [--seed 42] [--target local]
        [--skip-generate] [--full-refresh]

On `postgres` the bronze Parquet files are loaded into the `bronze` schema before the build. When
DBT_RUN_HISTORY_DSN is set, the run is recorded in platform.dbt_run_history.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime

from infra.model.catalog import load_catalog
from infra.model.lake import local_path
from tooling import dbt_invoke, layout, run_history, sample_data, summary
from tooling.errors import UsageError, cli, parse_arguments
from tooling.generate import _positive_int, write_bronze


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tooling.pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=_positive_int, default=100_000, help="orders to generate (default 100000)")
    parser.add_argument("--seed", type=_positive_int, default=42)
    parser.add_argument("--target", default="local", help="dbt target: local (default), postgres or dremio")
    parser.add_argument("--skip-generate", action="store_true", help="build over the bronze data already there")
    parser.add_argument("--full-refresh", action="store_true", help="rebuild incremental models from scratch")
    return parse_arguments(parser, argv, "make pipeline ORDERS=100000")


def require_bronze() -> None:
    root = layout.lake_root()
    for key in (layout.CUSTOMERS, layout.ORDERS):
        folder = local_path("bronze", layout.bronze_dataset(*key).prefix, root)
        if not any(folder.glob("date=*/*.parquet")):
            raise UsageError(f"no bronze Parquet files under {folder}; run `make pipeline` (it generates them), "
                             "or `PYTHONPATH=dbt .venv-dbt/bin/python -m tooling.generate`")


def generation_changed(scale: sample_data.Scale, target: str) -> bool:
    """New data of another shape replaces bronze wholesale: the incremental table must then start over."""
    fingerprint = {"orders": scale.orders, "customers": scale.customers, "seed": scale.seed, "loads": scale.loads,
                   "lake": str(layout.lake_root().resolve()), "target": target}
    state = layout.duckdb_path().with_name("last_generation.json")
    previous = json.loads(state.read_text()) if state.exists() else None
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps(fingerprint))
    return previous != fingerprint


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


@cli
def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started, clock = datetime.now(UTC), time.perf_counter()
    dbt_invoke.check_profile(args.target)
    full_refresh = args.full_refresh
    scale = sample_data.Scale.for_orders(args.orders, seed=args.seed)
    if not args.skip_generate:
        step(f"generate: {scale.orders:,} orders, {scale.customers:,} customers (seed {scale.seed}) "
             f"-> {layout.lake_root()}/bronze")
        write_bronze(scale, layout.lake_root())
        full_refresh = generation_changed(scale, args.target) or full_refresh
    require_bronze()
    if args.target == "postgres":
        from tooling import load_postgres, pg

        step("load bronze Parquet into PostgreSQL schema `bronze`")
        load_postgres.load(pg.target_conninfo())
    step(f"dbt build --target {args.target}{' --full-refresh' if full_refresh else ''}")
    outcome = dbt_invoke.run(["build", *(["--full-refresh"] if full_refresh else [])], args.target)
    wall = time.perf_counter() - clock

    step("summary")
    built = None
    if outcome.returncode == 0 and args.target in ("local", "postgres"):
        from tooling import pg

        built = (summary.local_summary(layout.lake_root()) if args.target == "local"
                 else summary.postgres_summary(pg.target_conninfo()))
        print("\n".join(built.lines()))
    print(f"models built: {outcome.models_run}   tests passed: {outcome.tests_passed} of {outcome.tests_run}")
    for failure in outcome.failures:
        print(f"  FAILED {failure}")
    print(f"wall time: {wall:.1f} s (dbt build {outcome.elapsed:.1f} s)")
    status = "success" if outcome.returncode == 0 else "error"
    record_run(args, scale, started, status, outcome, built, full_refresh)
    print(f"pipeline {'succeeded' if status == 'success' else 'FAILED'}")
    return outcome.returncode


def record_run(args, scale, started, status, outcome, built, full_refresh) -> None:
    dsn = run_history.configured_dsn()
    if not dsn:
        return
    metadata = {"target": args.target, "orders": scale.orders, "customers": scale.customers, "seed": scale.seed,
                "full_refresh": full_refresh, "tests_passed": outcome.tests_passed,
                "failures": outcome.failures, "dbt_elapsed_s": round(outcome.elapsed, 3),
                "rows": built.rows if built else None, "rejects": built.rejects if built else None}
    run = run_history.RunRecord(project_name=load_catalog().transformations.project, started_at=started.replace(
        tzinfo=None), completed_at=datetime.now(UTC).replace(tzinfo=None), status=status,
        models_run=outcome.models_run, tests_run=outcome.tests_run, metadata=metadata)
    try:
        run_id = run_history.record(dsn, run)
        print(f"run recorded in platform.dbt_run_history as {run_id}")
    except Exception as error:  # the build's outcome stands; say loudly that the history missed it
        print(f"warning: could not record the run in {run_history.DSN_VARIABLE}: {error}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
