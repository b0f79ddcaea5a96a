-- One row per customer (not deleted at the source), with what they bought: their completed orders' count,
-- value and dates. A customer without a completed order has 0 orders and 0 value, and no dates.
{{ config(materialized=('view' if target.type == 'dremio' else 'table')) }}

with customers as (
    select customer_id, customer_name, email
    from {{ ref('stg_postgres__customers') }}
    where customer_id is not null
      and deleted_at is null
),

completed_orders as (
    select customer_id, order_id, order_date, amount
    from {{ ref('int_orders_validated') }}
    where reject_reason is null
      and status = 'completed'
),

order_history as (
    select
        customer_id,
        count(distinct order_id) as total_orders,
        sum(amount) as lifetime_value,
        cast(avg(amount) as decimal(12, 2)) as average_order_value,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        {{ dbt.datediff('min(order_date)', 'max(order_date)', 'day') }} as customer_lifespan_days
    from completed_orders
    group by customer_id
)

select
    customers.customer_id,
    customers.customer_name,
    customers.email,
    coalesce(order_history.total_orders, 0) as total_orders,
    coalesce(order_history.lifetime_value, 0) as lifetime_value,
    order_history.average_order_value,
    order_history.first_order_date,
    order_history.last_order_date,
    order_history.customer_lifespan_days
from customers
left join order_history
    on customers.customer_id = order_history.customer_id
