-- The seed's data-quality test: no usable order has a zero or negative amount.
select order_id, amount
from {{ ref('int_customer_orders') }}
where amount <= 0
