-- The hot path of orders: bronze rows landed at or after the batch's watermark (the latest load
-- stg_postgres__orders read), renamed as that model renames them and not yet deduplicated. Ephemeral: read at
-- query time by the live views that unify it with the batch's history.
{{ config(materialized='ephemeral') }}

select
    {{ postgres_orders_renamed() }}
from {{ source('postgres', 'orders') }}
where _airbyte_extracted_at >= (select max(last_loaded_at) from {{ ref('stg_postgres__orders') }})
