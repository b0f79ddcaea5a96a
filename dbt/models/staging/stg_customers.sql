-- Customers, one row per customer_id: the latest version by updated_at (ties: the later load), cleaned.
-- Rows without a customer_id are not here: stg_rejects keeps them with reason `null_customer_id`.
with versions as (
    select
        customer_id,
        name,
        email,
        phone,
        city,
        state,
        zip_code,
        created_at,
        updated_at,
        _airbyte_extracted_at as loaded_at
    from {{ source('postgres', 'customers') }}
    where customer_id is not null
),

ranked as (
    select
        versions.*,
        row_number() over (partition by customer_id order by updated_at desc, loaded_at desc) as version_rank,
        count(*) over (partition by customer_id) as versions_seen
    from versions
)

select
    customer_id,
    upper(trim(name)) as customer_name,
    lower(trim(email)) as email,
    phone,
    city,
    state,
    zip_code,
    created_at,
    updated_at,
    loaded_at,
    versions_seen
from ranked
where version_rank = 1
