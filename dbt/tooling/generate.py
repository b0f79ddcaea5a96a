"""Write deterministic sample bronze data (Parquet, Snappy) into the local lake mirror.

    PYTHONPATH=dbt .venv-dbt/bin/python -m tooling.generate --orders 100000 [--customers N] [--seed 42]
        [--loads 3] [--through-load K] [--lake-root build/lake]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

from infra.model.catalog import load_catalog
from infra.model.lake import local_path
from tooling import layout, sample_data
from tooling.errors import UsageError, cli

PARQUET_OPTIONS = {"compression": "snappy", "use_dictionary": True, "row_group_size": 1_000_000,
                   "write_statistics": True}


def _positive_int(text: str) -> int:
    try:
        return int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tooling.generate", description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=_positive_int, default=100_000, help="number of orders (default 100000)")
    parser.add_argument("--customers", type=_positive_int, default=None, help="number of customers (default orders/10)")
    parser.add_argument("--seed", type=_positive_int, default=42, help="random seed (default 42)")
    parser.add_argument("--loads", type=_positive_int, default=3, help="daily Airbyte loads to spread rows over")
    parser.add_argument("--through-load", type=_positive_int, default=None, help="write only the first K loads")
    parser.add_argument("--lake-root", type=Path, default=None, help="local lake mirror (default build/lake)")
    try:
        return parser.parse_args(argv)
    except SystemExit as exit_:
        if exit_.code:
            raise UsageError("invalid arguments (see above); example: make pipeline ORDERS=100000") from None
        raise


def write_bronze(scale: sample_data.Scale, root: Path, progress=print) -> dict[str, int]:
    """Replace the bronze customers and orders datasets under `root`; return rows written per stream."""
    catalog = load_catalog()
    written = {}
    for (source, stream), build in ((layout.CUSTOMERS, sample_data.customers), (layout.ORDERS, sample_data.orders)):
        dataset = layout.bronze_dataset(source, stream, catalog)
        started = time.perf_counter()
        loads = sample_data.by_load(build(scale), scale, stream)
        folder = local_path("bronze", dataset.prefix, root)
        shutil.rmtree(folder, ignore_errors=True)
        for day, table in loads.items():
            target = local_path("bronze", dataset.partition_template.format(date=day.isoformat()), root)
            target.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, target / "data.parquet", **PARQUET_OPTIONS)
        written[stream] = sum(t.num_rows for t in loads.values())
        progress(f"  bronze/{dataset.prefix}: {written[stream]:,} rows in {len(loads)} loads "
                 f"({time.perf_counter() - started:.1f} s)")
    return written


@cli
def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    scale = sample_data.Scale.for_orders(args.orders, customers=args.customers, seed=args.seed, loads=args.loads,
                                         through_load=args.through_load)
    root = args.lake_root or layout.lake_root()
    print(f"generating {scale.orders:,} orders and {scale.customers:,} customers (seed {scale.seed}) into {root}")
    write_bronze(scale, root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
