"""Fill the `bronze` schema of the postgres target from the bronze Parquet files of the local lake mirror.

    PYTHONPATH=dbt .venv-dbt/bin/python -m tooling.load_postgres      (connection from DBT_PG_* variables)

Each bronze dataset the models read becomes table `bronze.<source>__<stream>`, replaced on every load, with
the Parquet columns and types; the `date=` partition folders are not a column.
"""

from __future__ import annotations

import io
import sys
import time

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds

from infra.model.catalog import load_catalog
from infra.model.lake import local_path
from tooling import layout, pg
from tooling.errors import UsageError, cli

BATCH_ROWS = 500_000


def _pg_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_integer(arrow_type):
        return "bigint"
    if pa.types.is_decimal(arrow_type):
        return f"numeric({arrow_type.precision}, {arrow_type.scale})"
    if pa.types.is_floating(arrow_type):
        return "double precision"
    if pa.types.is_date(arrow_type):
        return "date"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    return "text"


def bronze_files(dataset) -> list[str]:
    folder = local_path("bronze", dataset.prefix, layout.lake_root())
    files = sorted(str(p) for p in folder.glob("date=*/*.parquet"))
    if not files:
        raise UsageError(f"no bronze Parquet files under {folder}; generate them first with `make pipeline` or "
                         "`PYTHONPATH=dbt .venv-dbt/bin/python -m tooling.generate`")
    return files


def load(conninfo: str, progress=print) -> dict[str, int]:
    import psycopg

    catalog = load_catalog()
    loaded = {}
    with psycopg.connect(conninfo) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS bronze")
        for source, stream in (layout.CUSTOMERS, layout.ORDERS):
            started = time.perf_counter()
            dataset = layout.bronze_dataset(source, stream, catalog)
            table = f"bronze.{layout.postgres_table(dataset)}"
            data = ds.dataset(bronze_files(dataset), format="parquet")
            columns = ", ".join(f'"{f.name}" {_pg_type(f.type)}' for f in data.schema)
            conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute(f"CREATE TABLE {table} ({columns})")
            rows = 0
            with conn.cursor().copy(f"COPY {table} FROM STDIN (FORMAT csv)") as copy:
                for batch in data.to_batches(batch_size=BATCH_ROWS):
                    buffer = io.BytesIO()
                    pacsv.write_csv(batch, buffer, pacsv.WriteOptions(include_header=False, quoting_style="all_valid"))
                    copy.write(buffer.getvalue())
                    rows += batch.num_rows
            conn.execute(f"ANALYZE {table}")
            loaded[table] = rows
            progress(f"  {table}: {rows:,} rows ({time.perf_counter() - started:.1f} s)")
    return loaded


@cli
def main(argv: list[str] | None = None) -> int:
    load(pg.target_conninfo())
    return 0


if __name__ == "__main__":
    sys.exit(main())
