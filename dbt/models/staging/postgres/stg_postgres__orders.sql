-- Orders as the operational database holds them: one row per order_id, its newest version (the latest change at
-- the source, ties to the later load), amounts cast and raw statuses mapped to the documented set. A deleted
-- order keeps its delete (deleted_at set). Rows that arrive without an order_id stay as they came.
--
-- Incremental on the load time, the batch's watermark: the latest load the last build read. A build reads the
-- rows landed at or after it, so a row landed after that build with exactly the watermark's time is not lost;
-- versions_at_last_load says how many of those at the watermark were counted already, so none is counted twice.
-- A version that arrives late (an older change loaded after a newer one) is compared with the row kept and loses.
--
-- On Dremio the table is Iceberg (`format`): dbt-dremio's merge is a MERGE INTO, and Dremio refuses DML on a table
-- that is not (IcebergUtils.checkTableExistenceAndMutability in dremio-oss), while the lake source writes Parquet
-- by default (its defaultCtasFormat). tests/dbt/test_dbt_dremio_sql.py holds the two together.
{{ config(
    materialized='incremental',
    unique_key='order_id',
    incremental_strategy=('merge' if target.type == 'dremio' else 'delete+insert'),
    format=('iceberg' if target.type == 'dremio' else none),
    on_schema_change='fail'
) }}

{% set watermark = '(select max(last_loaded_at) from ' ~ this ~ ')' %}

with source as (
    select * from {{ source('postgres', 'orders') }}
    {% if is_incremental() %}
    where _airbyte_extracted_at >= {{ watermark }}
    {% endif %}
),

renamed as (
    select
        {{ postgres_orders_renamed() }}
    from source
),

arrived as (
    select * from renamed
    {% if is_incremental() %}
    -- A record without an order_id has no key to merge on: the ones staged already are known by their id.
    where order_id is not null
       or raw_id not in (select raw_id from {{ this }} where order_id is null and raw_id is not null)
    {% endif %}
),

candidates as (
    select
        order_id, customer_id, order_date, amount, status_raw, status, updated_at, changed_at, deleted_at, raw_id,
        loaded_at
    from arrived
    {% if is_incremental() %}
    union all
    -- The version kept so far of every order with new arrivals.
    select
        order_id, customer_id, order_date, amount, status_raw, status, updated_at, changed_at, deleted_at, raw_id,
        loaded_at
    from {{ this }}
    where order_id in (select order_id from arrived)
    {% endif %}
),

ranked as (
    select
        candidates.*,
        row_number() over (partition by order_id order by {{ newest_version_first() }}) as version_rank
    from candidates
),

arrived_loads as (
    -- Versions arrived per order and load, the newest load first. Counted on two columns read from the source
    -- again, not from `arrived`: an engine may keep a CTE read twice in memory whole (DuckDB does), which at
    -- millions of rows cost more than the second read; the filter is the one `arrived` applies to keyed rows.
    select
        order_id,
        loaded_at,
        versions,
        row_number() over (partition by order_id order by loaded_at desc nulls last) as load_rank,
        sum(versions) over (partition by order_id) as versions_arrived
    from (
        select order_id, _airbyte_extracted_at as loaded_at, count(*) as versions
        from {{ source('postgres', 'orders') }}
        where order_id is not null
        {% if is_incremental() %}
          and _airbyte_extracted_at >= {{ watermark }}
        {% endif %}
        group by order_id, _airbyte_extracted_at
    ) as per_load
),

counts as (
    -- Versions read per order: those read before, plus those arrived now, less the ones at the watermark that
    -- the last build read already.
    select
        arrived_loads.order_id,
        arrived_loads.loaded_at as last_loaded_at,
        arrived_loads.versions as versions_at_last_load,
        arrived_loads.versions_arrived
        {% if is_incremental() %}
        + coalesce(kept.versions_seen, 0) - coalesce(kept.counted_at_watermark, 0)
        {% endif %}
        as versions_seen
    from arrived_loads
    {% if is_incremental() %}
    left join (
        select
            order_id,
            versions_seen,
            case when last_loaded_at >= {{ watermark }} then versions_at_last_load else 0 end as counted_at_watermark
        from {{ this }}
    ) as kept
        on arrived_loads.order_id = kept.order_id
    {% endif %}
    where arrived_loads.load_rank = 1
),

newest as (
    select * from ranked
    where order_id is null or version_rank = 1
)

select
    newest.order_id,
    newest.customer_id,
    newest.order_date,
    newest.amount,
    newest.status_raw,
    newest.status,
    newest.updated_at,
    newest.changed_at,
    newest.deleted_at,
    newest.raw_id,
    newest.loaded_at,
    cast(case when newest.order_id is null then 1 else counts.versions_seen end as bigint) as versions_seen,
    case when newest.order_id is null then newest.loaded_at else counts.last_loaded_at end as last_loaded_at,
    cast(case when newest.order_id is null then 1 else counts.versions_at_last_load end as bigint)
        as versions_at_last_load
from newest
left join counts
    on newest.order_id = counts.order_id
