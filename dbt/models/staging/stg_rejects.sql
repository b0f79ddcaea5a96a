-- Every bronze row staging cannot use, with one reason per row (the first check that fails, in the order
-- of var('reject_reasons')). Not incremental: an order rejected because its customer had not arrived yet
-- leaves this model, and enters int_customer_orders, on the first run after the customer lands.
with null_customer_keys as (
    select
        'customer' as entity,
        cast(null as bigint) as record_id,
        'null_customer_id' as reason,
        updated_at,
        _airbyte_extracted_at as loaded_at
    from {{ source('postgres', 'customers') }}
    where customer_id is null
),

null_order_keys as (
    select
        'order' as entity,
        cast(null as bigint) as record_id,
        'null_order_id' as reason,
        updated_at,
        _airbyte_extracted_at as loaded_at
    from {{ source('postgres', 'orders') }}
    where order_id is null
),

invalid_orders as (
    select
        'order' as entity,
        order_id as record_id,
        invalid_reason as reason,
        updated_at,
        loaded_at
    from {{ ref('stg_orders') }}
    where invalid_reason is not null
),

orders_of_unknown_customers as (
    select
        'order' as entity,
        orders.order_id as record_id,
        'unknown_customer' as reason,
        orders.updated_at,
        orders.loaded_at
    from {{ ref('stg_orders') }} as orders
    left join {{ ref('stg_customers') }} as customers
        on orders.customer_id = customers.customer_id
    where orders.invalid_reason is null
      and customers.customer_id is null
)

select * from null_customer_keys
union all
select * from null_order_keys
union all
select * from invalid_orders
union all
select * from orders_of_unknown_customers
