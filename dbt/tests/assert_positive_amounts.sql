-- The seed's data-quality test: no usable order has a zero or negative amount.
select order_id, amount
from {{ ref('int_orders_validated') }}
where reject_reason is null
  and amount <= 0
