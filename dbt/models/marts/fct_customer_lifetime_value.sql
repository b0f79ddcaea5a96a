-- Lifetime value and order history per customer, over completed orders only.
{{ config(materialized=('view' if target.type == 'dremio' else 'table')) }}

select
    customer_id,
    customer_name,
    email,
    count(distinct order_id) as total_orders,
    sum(amount) as lifetime_value,
    cast(avg(amount) as decimal(12, 2)) as average_order_value,
    min(order_date) as first_order_date,
    max(order_date) as last_order_date,
    {{ dbt.datediff('min(order_date)', 'max(order_date)', 'day') }} as customer_lifespan_days
from {{ ref('int_customer_orders') }}
where status = 'completed'
group by customer_id, customer_name, email
