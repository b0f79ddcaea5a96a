-- Nothing is dropped silently: for each bronze dataset, rows = kept + rejected + superseded versions.
with customers as (
    select
        'customers' as dataset,
        (select count(*) from {{ source('postgres', 'customers') }}) as bronze_rows,
        (select count(*) from {{ ref('stg_customers') }}) as kept,
        (select count(*) from {{ ref('stg_rejects') }} where entity = 'customer') as rejected,
        (select coalesce(sum(versions_seen - 1), 0) from {{ ref('stg_customers') }}) as superseded
),

orders as (
    select
        'orders' as dataset,
        (select count(*) from {{ source('postgres', 'orders') }}) as bronze_rows,
        (select count(*) from {{ ref('int_customer_orders') }}) as kept,
        (select count(*) from {{ ref('stg_rejects') }} where entity = 'order') as rejected,
        (select coalesce(sum(versions_seen - 1), 0) from {{ ref('stg_orders') }}) as superseded
)

select * from (select * from customers union all select * from orders) as accounts
where bronze_rows <> kept + rejected + superseded
