-- One row per usable order as the source holds it now: the Lambda model's unified view. The batch's history
-- and the rows landed since its watermark are read when the view is queried, so an order landed in bronze shows
-- here before the next batch, an update replaces it and a delete removes it. The same rules as the batch decide
-- what is usable (macro order_reject_reason). A view on every target, with no reflection: a reflection is a copy,
-- and would serve the batch's state instead of the landed rows.
{{ config(materialized='view') }}

with orders as (
    select * from {{ ref('int_orders_unified') }}
),

customers as (
    select * from {{ ref('int_customers_unified') }}
),

checked as (
    select
        orders.order_id,
        orders.customer_id,
        customers.customer_name,
        customers.email,
        orders.order_date,
        orders.amount,
        orders.status,
        orders.updated_at,
        orders.loaded_at,
        {{ order_reject_reason('orders', 'customers') }} as reject_reason
    from orders
    left join customers
        on orders.customer_id = customers.customer_id
)

select
    order_id,
    customer_id,
    customer_name,
    email,
    order_date,
    amount,
    status,
    updated_at,
    loaded_at
from checked
where reject_reason is null
