-- Every bronze row the platform cannot use, one reason each: customers that arrived without a customer_id, and
-- the orders int_orders_validated rejects. Rebuilt on every run, like int_orders_validated.
with customers_without_key as (
    select
        'customer' as entity,
        cast(null as bigint) as record_id,
        'null_customer_id' as reason,
        updated_at,
        loaded_at
    from {{ ref('stg_postgres__customers') }}
    where customer_id is null
),

rejected_orders as (
    select
        'order' as entity,
        order_id as record_id,
        reject_reason as reason,
        updated_at,
        loaded_at
    from {{ ref('int_orders_validated') }}
    where reject_reason is not null
)

select * from customers_without_key
union all
select * from rejected_orders
