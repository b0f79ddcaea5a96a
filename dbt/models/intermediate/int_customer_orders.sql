-- Usable orders joined to their customer: valid orders whose customer is known (the rest are in stg_rejects).
-- A table rebuilt on every run, so orders that landed before their customer appear once the customer does.
select
    customers.customer_id,
    customers.customer_name,
    customers.email,
    orders.order_id,
    orders.order_date,
    orders.amount,
    orders.status
from {{ ref('stg_orders') }} as orders
inner join {{ ref('stg_customers') }} as customers
    on orders.customer_id = customers.customer_id
where orders.invalid_reason is null
