-- Revenue and number of completed orders per order date.
{{ config(materialized=('view' if target.type == 'dremio' else 'table')) }}

select
    order_date,
    sum(amount) as daily_revenue,
    count(*) as order_count
from {{ ref('int_orders_validated') }}
where reject_reason is null
  and status = 'completed'
group by order_date
