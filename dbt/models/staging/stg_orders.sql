-- Orders, one row per order_id: the latest version by updated_at (ties: the later load), cleaned.
-- Incremental on the load time, not on updated_at, so a version that arrives late (older updated_at,
-- later load) is still counted: it is compared with the row already kept and loses to it.
-- Row-level problems are flagged in `invalid_reason`; stg_rejects turns them into rejects.
{{ config(
    materialized='incremental',
    unique_key='order_id',
    incremental_strategy=('merge' if target.type == 'dremio' else 'delete+insert'),
    on_schema_change='fail'
) }}

with arrived as (
    select
        order_id,
        customer_id,
        order_date,
        cast(amount as decimal(12, 2)) as amount,
        status as status_raw,
        {{ normalize_status('status') }} as status,
        updated_at,
        _airbyte_extracted_at as loaded_at,
        cast(1 as bigint) as versions_seen,
        _airbyte_extracted_at as last_loaded_at
    from {{ source('postgres', 'orders') }}
    where order_id is not null
    {% if is_incremental() %}
        and _airbyte_extracted_at > (select max(last_loaded_at) from {{ this }})
    {% endif %}
),

versions as (
    select * from arrived
    {% if is_incremental() %}
    union all
    -- The version kept so far for every order that has new arrivals.
    select
        order_id, customer_id, order_date, amount, status_raw, status, updated_at, loaded_at,
        versions_seen, last_loaded_at
    from {{ this }}
    where order_id in (select order_id from arrived)
    {% endif %}
),

ranked as (
    select
        versions.*,
        row_number() over (partition by order_id order by updated_at desc, loaded_at desc) as version_rank,
        sum(versions_seen) over (partition by order_id) as all_versions,
        max(last_loaded_at) over (partition by order_id) as latest_load
    from versions
)

select
    order_id,
    customer_id,
    order_date,
    amount,
    status_raw,
    status,
    case
        when customer_id is null then 'null_customer_id'
        when amount is null or amount <= 0 then 'non_positive_amount'
        when status is null then 'unknown_status'
    end as invalid_reason,
    updated_at,
    loaded_at,
    cast(all_versions as bigint) as versions_seen,
    latest_load as last_loaded_at
from ranked
where version_rank = 1
