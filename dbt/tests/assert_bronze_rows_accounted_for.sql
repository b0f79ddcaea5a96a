-- Nothing is dropped silently: for each bronze dataset, rows = usable + rejected + deleted + superseded versions.
-- Customers are usable or deleted by their kept version; a customer without a key is rejected.
with customers as (
    select
        'customers' as dataset,
        (select count(*) from {{ source('postgres', 'customers') }}) as bronze_rows,
        (select count(*) from {{ ref('stg_postgres__customers') }}
         where customer_id is not null and deleted_at is null) as usable,
        (select count(*) from {{ ref('int_rejects_unioned') }} where entity = 'customer') as rejected,
        (select count(*) from {{ ref('stg_postgres__customers') }}
         where customer_id is not null and deleted_at is not null) as deleted,
        (select coalesce(sum(versions_seen - 1), 0) from {{ ref('stg_postgres__customers') }}) as superseded
),

orders as (
    select
        'orders' as dataset,
        (select count(*) from {{ source('postgres', 'orders') }}) as bronze_rows,
        (select count(*) from {{ ref('int_orders_validated') }} where reject_reason is null) as usable,
        (select count(*) from {{ ref('int_rejects_unioned') }} where entity = 'order') as rejected,
        (select count(*) from {{ ref('stg_postgres__orders') }} where deleted_at is not null) as deleted,
        (select coalesce(sum(versions_seen - 1), 0) from {{ ref('stg_postgres__orders') }}) as superseded
)

select * from (select * from customers union all select * from orders) as accounts
where bronze_rows <> usable + rejected + deleted + superseded
