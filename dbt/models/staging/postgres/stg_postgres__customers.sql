-- Customers as the operational database holds them: one row per customer_id, its newest version (the latest
-- change at the source, ties to the later load), names and emails cleaned. A deleted customer keeps its delete
-- (deleted_at set), so that an older version landing later cannot bring it back. Rows that arrive without a
-- customer_id cannot be told apart and stay as they came; int_rejects_unioned lists them.
with source as (
    select * from {{ source('postgres', 'customers') }}
),

renamed as (
    select
        {{ postgres_customers_renamed() }}
    from source
),

ranked as (
    select
        renamed.*,
        row_number() over (partition by customer_id order by {{ newest_version_first() }}) as version_rank,
        count(*) over (partition by customer_id) as versions,
        max(loaded_at) over (partition by customer_id) as latest_load
    from renamed
)

select
    customer_id,
    customer_name,
    email,
    phone,
    city,
    state,
    zip_code,
    created_at,
    updated_at,
    changed_at,
    deleted_at,
    raw_id,
    loaded_at,
    cast(case when customer_id is null then 1 else versions end as bigint) as versions_seen,
    case when customer_id is null then loaded_at else latest_load end as last_loaded_at
from ranked
where customer_id is null or version_rank = 1
