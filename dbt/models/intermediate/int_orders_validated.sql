-- Every order staging kept that is not deleted, with its customer and `reject_reason`: the first rule it breaks
-- (macro order_reject_reason), null when the order is usable. A table rebuilt on every run, so an order that
-- landed before its customer becomes usable on the first run after the customer lands.
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
from {{ ref('stg_postgres__orders') }} as orders
left join {{ ref('stg_postgres__customers') }} as customers
    on orders.customer_id = customers.customer_id
    and customers.deleted_at is null
where orders.deleted_at is null
