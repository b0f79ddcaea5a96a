"""Write deterministic sample bronze data (Parquet, Snappy) into the local lake mirror.

    PYTHONPATH=dbt .venv-dbt/bin/python -m tooling.generate --orders 100000 [--customers N] [--seed 42]
        [--loads 3] [--through-load K] [--lake-root build/lake]

Data is generated and written chunk by chunk (see tooling.sample_data), one Parquet file per load, so memory stays
bounded at any size (up to the 200M-order limit).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import shutil
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from infra.model.catalog import load_catalog
from infra.model.lake import local_path
from tooling import layout, sample_data
from tooling.errors import cli, parse_arguments

PARQUET_OPTIONS = {"compression": "snappy", "use_dictionary": True, "row_group_size": 1_000_000,
                   "write_statistics": True}
_M_MMAP_THRESHOLD = -3  # glibc's malloc.h
PROGRESS_EVERY = 10  # chunks between progress lines of a long stream


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
    return parse_arguments(parser, argv, "make pipeline ORDERS=100000")


def _keep_large_blocks_returnable() -> None:
    """Have glibc map every block of 1 MiB or more on its own, so that freeing it gives the memory back.

    By default glibc raises its mmap threshold (up to 32 MiB) each time a mapped block is freed; after the first
    chunk, a chunk's numpy arrays (8 to 16 MB each) would come from the heap instead, which fragments and keeps
    what it once held: the peak grew over the first chunks to about 1.45 times the first one's (measured with 1M-order
    chunks). Fixing the threshold (`mallopt(M_MMAP_THRESHOLD)`) keeps every chunk's peak at the first one's. glibc
    only, and for the rest of the process; elsewhere memory is left to the allocator."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(_M_MMAP_THRESHOLD, 1 << 20)


def write_bronze(scale: sample_data.Scale, root: Path, progress=print, *,
                 chunk_customers: int = sample_data.CHUNK_CUSTOMERS,
                 chunk_orders: int = sample_data.CHUNK_ORDERS) -> dict[str, int]:
    """Replace the bronze customers and orders datasets under `root`; return rows written per stream.

    Each stream is generated a chunk at a time and each chunk's rows are appended to its load's file (one
    `ParquetWriter` per load date, closed at the end), so memory holds one chunk whatever the size. A file has one
    row group per chunk (split at `row_group_size` rows); a dataset of one chunk is written exactly as
    `pyarrow.parquet.write_table` would write it. Chunk sizes are parameters for tests only: changing them changes
    the rows of a dataset larger than one chunk."""
    catalog = load_catalog()
    _keep_large_blocks_returnable()
    written = {}
    streams = ((layout.CUSTOMERS, sample_data.customer_chunks, scale.customers, chunk_customers),
               (layout.ORDERS, sample_data.order_chunks, scale.orders, chunk_orders))
    writer_options = {key: value for key, value in PARQUET_OPTIONS.items() if key != "row_group_size"}
    for (source, stream), chunks, records, size in streams:
        dataset = layout.bronze_dataset(source, stream, catalog)
        started = time.perf_counter()
        folder = local_path("bronze", dataset.prefix, root)
        shutil.rmtree(folder, ignore_errors=True)
        total = len(sample_data.chunk_bounds(records, size))
        writers: dict = {}
        generated = written[stream] = 0
        try:
            for index, chunk in enumerate(chunks(scale, size)):
                for day, table in sample_data.by_load(chunk, scale, stream, first_row=generated):
                    if day not in writers:
                        target = local_path("bronze", dataset.partition_template.format(date=day.isoformat()), root)
                        target.mkdir(parents=True, exist_ok=True)
                        writers[day] = pq.ParquetWriter(target / "data.parquet", table.schema, **writer_options)
                    if table.num_rows or index == 0:  # a load empty in chunk 0 still gets its (empty) file
                        writers[day].write_table(table, row_group_size=PARQUET_OPTIONS["row_group_size"])
                    written[stream] += table.num_rows
                generated += chunk.num_rows
                del chunk, table
                pa.default_memory_pool().release_unused()  # Arrow's allocator keeps freed pages otherwise
                if (index + 1) % PROGRESS_EVERY == 0 and index + 1 < total:
                    progress(f"  bronze/{dataset.prefix}: chunk {index + 1}/{total}, {written[stream]:,} rows "
                             f"({time.perf_counter() - started:.1f} s)")
        finally:
            for writer in writers.values():
                writer.close()
        progress(f"  bronze/{dataset.prefix}: {written[stream]:,} rows in {len(writers)} loads "
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
