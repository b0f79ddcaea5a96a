"""The hand-written floor: the batch dbt builds, as plain DuckDB SQL in one connection, writing the same lake layout.

    PYTHONPATH=dbt .venv-dbt/bin/python -m tooling.floor --lake-root build/lake --out build/floor

It reads the bronze mirror under `--lake-root` and writes silver and gold under `--out`, each dataset in the folder,
codec and partitioning dbt's export gives it (dbt_project.yml `lake_codecs` and `lake_partitions`, the models'
`business_key` and `period_column` meta). It has none of dbt's machinery: no incremental state, no tests, no
tables kept in a database; so its time is what the work itself costs on this machine, and `make dbt-bench` prints
dbt's build as a multiple of it. `checksums` reads any lake's outputs back as rows and an order-independent hash per
dataset, which is how the bench proves both produce the same data.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
import time
from pathlib import Path

import duckdb
import yaml

from tooling import layout
from tooling.errors import UsageError, cli

# Datasets written per layer, in build order, with the meta the dbt models declare (read from the model files so
# that the floor cannot drift from them; see `dataset_layout`).
SILVER = ("stg_postgres__customers", "stg_postgres__orders", "int_orders_validated", "int_rejects_unioned")
GOLD = ("customers", "daily_revenue")
# A profile value read from the environment with a default, as profiles.yml writes it.
ENV_VAR = re.compile(r"\{\{\s*env_var\('(?P<name>\w+)',\s*'(?P<default>[^']*)'\)\s*\}\}")


def project_vars() -> dict:
    return yaml.safe_load((layout.DBT_DIR / "dbt_project.yml").read_text())["vars"]


def model_meta() -> dict[str, dict]:
    """Each model's `meta` from the project's YAML files."""
    meta = {}
    for path in sorted((layout.DBT_DIR / "models").rglob("*.yml")):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            meta[model["name"]] = (model.get("config") or {}).get("meta") or {}
    return meta


def dataset_layout(layer: str, variables: dict, meta: dict) -> tuple[list[str], list[str], str]:
    """(extra columns, partition columns, codec) for one written dataset, the way the export macro decides them."""
    partitions = variables["lake_partitions"].get(layer, {})
    keys, period = meta.get("business_key"), meta.get("period_column")
    if partitions.get("buckets") and keys:
        return [f"hash({', '.join(keys)}) % {partitions['buckets']} as key_bucket"], ["key_bucket"], \
            variables["lake_codecs"][layer]
    if partitions.get("period") and period:
        columns, names = [f"year({period}) as year"], ["year"]
        if partitions["period"] == "month":
            columns.append(f"month({period}) as month")
            names.append("month")
        return columns, names, variables["lake_codecs"][layer]
    return [], [], variables["lake_codecs"][layer]


def _status_values(statuses: dict[str, list[str]]) -> str:
    return ", ".join(f"('{spelling}', '{status}')" for status, spellings in statuses.items() for spelling in spellings)


def statements(bronze: Path, variables: dict) -> list[tuple[str, str]]:
    """The floor's SQL: (step name, query) in order; each query's rows are written to the lake and read from there."""
    orders = f"read_parquet('{bronze}/postgres/orders/date=*/*.parquet')"
    customers = f"read_parquet('{bronze}/postgres/customers/date=*/*.parquet')"
    return [
        ("status map", f"create temp table status_map (spelling varchar, status varchar); "
                       f"insert into status_map values {_status_values(variables['order_statuses'])}"),
        ("stg_postgres__customers", f"""
            select customer_id, upper(trim(name)) as customer_name, lower(trim(email)) as email, phone, city, state,
                   zip_code, created_at, updated_at, coalesce(_ab_cdc_updated_at, updated_at) as changed_at,
                   _ab_cdc_deleted_at as deleted_at, _airbyte_raw_id as raw_id, _airbyte_extracted_at as loaded_at,
                   case when customer_id is null then 1
                        else count(*) over (partition by customer_id) end::bigint as versions_seen,
                   case when customer_id is null then _airbyte_extracted_at
                        else max(_airbyte_extracted_at) over (partition by customer_id) end as last_loaded_at
            from {customers}
            qualify customer_id is null
                 or row_number() over (partition by customer_id
                                       order by coalesce(_ab_cdc_updated_at, updated_at) desc,
                                                _airbyte_extracted_at desc) = 1"""),
        ("stg_postgres__orders", f"""
            with loads as (
                select order_id, _airbyte_extracted_at as loaded_at, count(*) as versions
                from {orders} where order_id is not null group by all
            ),
            per_order as (
                select order_id, sum(versions)::bigint as versions_seen, max(loaded_at) as last_loaded_at,
                       arg_max(versions, loaded_at)::bigint as versions_at_last_load
                from loads group by order_id
            ),
            newest as (
                select * from {orders}
                qualify order_id is null
                     or row_number() over (partition by order_id
                                           order by coalesce(_ab_cdc_updated_at, updated_at) desc,
                                                    _airbyte_extracted_at desc) = 1
            )
            select newest.order_id, customer_id, order_date, amount::decimal(12, 2) as amount,
                   newest.status as status_raw,
                   status_map.status, updated_at, coalesce(_ab_cdc_updated_at, updated_at) as changed_at,
                   _ab_cdc_deleted_at as deleted_at, _airbyte_raw_id as raw_id, _airbyte_extracted_at as loaded_at,
                   coalesce(per_order.versions_seen, 1) as versions_seen,
                   coalesce(per_order.last_loaded_at, _airbyte_extracted_at) as last_loaded_at,
                   coalesce(per_order.versions_at_last_load, 1) as versions_at_last_load
            from newest
            left join status_map on status_map.spelling = lower(trim(newest.status))
            left join per_order on per_order.order_id = newest.order_id"""),
        ("int_orders_validated", """
            select o.order_id, o.customer_id, c.customer_name, c.email, o.order_date, o.amount, o.status,
                   o.updated_at, o.loaded_at,
                   case when o.order_id is null then 'null_order_id'
                        when o.customer_id is null then 'null_customer_id'
                        when o.amount is null or o.amount <= 0 then 'non_positive_amount'
                        when o.status is null then 'unknown_status'
                        when c.customer_id is null then 'unknown_customer' end as reject_reason
            from stg_postgres__orders as o
            left join stg_postgres__customers as c on c.customer_id = o.customer_id and c.deleted_at is null
            where o.deleted_at is null"""),
        ("int_rejects_unioned", """
            select 'customer' as entity, null::bigint as record_id, 'null_customer_id' as reason, updated_at, loaded_at
            from stg_postgres__customers where customer_id is null
            union all
            select 'order', order_id, reject_reason, updated_at, loaded_at
            from int_orders_validated where reject_reason is not null"""),
        ("customers", """
            with history as (
                select customer_id, count(distinct order_id) as total_orders, sum(amount) as lifetime_value,
                       avg(amount)::decimal(12, 2) as average_order_value, min(order_date) as first_order_date,
                       max(order_date) as last_order_date,
                       date_diff('day', min(order_date)::timestamp, max(order_date)::timestamp)
                           as customer_lifespan_days
                from int_orders_validated
                where reject_reason is null and status = 'completed'
                group by customer_id
            )
            select c.customer_id, c.customer_name, c.email, coalesce(h.total_orders, 0) as total_orders,
                   coalesce(h.lifetime_value, 0) as lifetime_value, h.average_order_value, h.first_order_date,
                   h.last_order_date, h.customer_lifespan_days
            from stg_postgres__customers as c
            left join history as h on h.customer_id = c.customer_id
            where c.customer_id is not null and c.deleted_at is null"""),
        ("daily_revenue", """
            select order_date, sum(amount) as daily_revenue, count(*) as order_count
            from int_orders_validated
            where reject_reason is null and status = 'completed'
            group by order_date"""),
    ]


def write_statement(name: str, select: str, layer: str, out: Path, variables: dict, meta: dict) -> str:
    """COPY of one step's rows into its lake folder, with the layout dbt's export gives that dataset."""
    columns, partitions, codec = dataset_layout(layer, variables, meta)
    extra = "".join(f", {column}" for column in columns)
    options = f", partition_by ({', '.join(partitions)})" if partitions else ", file_size_bytes '512MB'"
    return (f"copy (select *{extra} from ({select})) to '{out / layer / name}' "
            f"(format parquet, compression {codec}, overwrite true{options})")


def read_back_statement(name: str, layer: str, out: Path) -> str:
    """A view of a written dataset for the steps after it: the lake files are the only copy of the data."""
    return (f"create view {name} as select * from "
            f"read_parquet('{out / layer / name}/**/*.parquet', hive_partitioning = false)")


def duckdb_settings() -> dict[str, str]:
    """The `settings` of the `local` output in dbt/profiles.yml, environment overrides applied: the floor runs DuckDB
    exactly as dbt's build does (memory limit included), or the ratio would compare two configurations."""
    profile = yaml.safe_load((layout.DBT_DIR / "profiles.yml").read_text())[layout.PROFILE_NAME]
    settings = {}
    for name, value in (profile["outputs"]["local"].get("settings") or {}).items():
        found = ENV_VAR.fullmatch(str(value))
        settings[name] = os.environ.get(found["name"], found["default"]) if found else str(value).lower() \
            if isinstance(value, bool) else str(value)
    if "memory_limit" not in settings:
        raise UsageError("dbt/profiles.yml: the local output has no settings.memory_limit; the floor needs the "
                         "same DuckDB settings as the build")
    return settings


def connect(settings: dict[str, str], spill: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for name, value in settings.items():
        con.execute(f"set {name} = '{value}'")
    con.execute(f"set temp_directory = '{spill}'")
    return con


def run(lake_root: Path, out: Path, settings: dict[str, str] | None = None) -> dict:
    """Build the floor's silver and gold from `lake_root`'s bronze into `out`; seconds per step."""
    bronze = lake_root / "bronze"
    if not any(bronze.glob("*/*/date=*/*.parquet")):
        raise UsageError(f"no bronze Parquet files under '{bronze}'; generate them first with "
                         "`PYTHONPATH=dbt .venv-dbt/bin/python -m tooling.generate --lake-root <folder>`")
    variables, meta = project_vars(), model_meta()
    for layer in ("silver", "gold"):
        (out / layer).mkdir(parents=True, exist_ok=True)
    con = connect(settings or duckdb_settings(), out / ".spill")
    steps: dict[str, float] = {}
    for name, sql in statements(bronze, variables):
        started = time.perf_counter()
        if name in SILVER or name in GOLD:
            layer = "silver" if name in SILVER else "gold"
            con.execute(write_statement(name, sql, layer, out, variables, meta.get(name, {})))
            con.execute(read_back_statement(name, layer, out))
        else:
            con.execute(sql)
        steps[name] = round(time.perf_counter() - started, 3)
    con.close()
    return steps


def _sorted_columns(con: duckdb.DuckDBPyConnection, relation: str) -> list[tuple[str, str]]:
    described = con.execute(f"describe select * from {relation}").fetchall()
    return sorted((row[0], row[1]) for row in described)


def checksum(con: duckdb.DuckDBPyConnection, relation: str) -> dict:
    """Rows, column types and an order-independent hash of every row (columns taken in name order)."""
    columns = _sorted_columns(con, relation)
    packed = ", ".join(f'"{name}" := "{name}"' for name, _ in columns)
    rows, digest = con.execute(f"select count(*), coalesce(sum(hash(struct_pack({packed})))::hugeint, 0) "
                               f"from {relation}").fetchone()
    return {"rows": rows, "hash": str(digest), "columns": [f"{name} {kind}" for name, kind in columns]}


def lake_relation(root: Path, layer: str, name: str) -> str:
    return f"read_parquet('{root / layer / name}/**/*.parquet', hive_partitioning = true)"


def checksums(root: Path) -> dict[str, dict]:
    """Checksums of every dataset the floor writes, read back from the lake folder `root` (dbt's or the floor's)."""
    con = duckdb.connect()
    try:
        return {f"{layer}/{name}": checksum(con, lake_relation(root, layer, name))
                for layer, names in (("silver", SILVER), ("gold", GOLD)) for name in names}
    finally:
        con.close()


def live_orders_checksums(duckdb_path: Path, floor_root: Path) -> tuple[dict, dict]:
    """dbt's `orders` view (the Lambda model's unified view) against the floor's usable orders, right after a full
    build: with no newer rows landed, both are the orders the batch found usable."""
    columns = ("order_id, customer_id, customer_name, email, order_date, amount, status, updated_at, loaded_at")
    con = duckdb.connect(str(duckdb_path), read_only=True)
    try:
        dbt_side = checksum(con, "(select * from gold.orders)")
        validated = lake_relation(floor_root, "silver", "int_orders_validated")
        floor_side = checksum(con, f"(select {columns} from {validated} where reject_reason is null)")
    finally:
        con.close()
    return dbt_side, floor_side


@cli
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tooling.floor", description=__doc__.splitlines()[0])
    parser.add_argument("--lake-root", type=Path, default=None, help="lake mirror holding bronze (default build/lake)")
    parser.add_argument("--out", type=Path, required=True, help="folder to write silver/ and gold/ into")
    parser.add_argument("--json", action="store_true", help="print the seconds per step as JSON")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    steps = run(args.lake_root or layout.lake_root(), args.out)
    total = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    if args.json:
        print(json.dumps({"seconds": round(total, 2), "max_rss_mb": peak_mb, "steps": steps}))
    else:
        print(f"floor: {len(steps) - 1} datasets written to {args.out} in {total:.2f} s (peak {peak_mb} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
