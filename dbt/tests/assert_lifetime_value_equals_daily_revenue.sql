-- Both marts count the same completed orders: total lifetime value equals total daily revenue.
with totals as (
    select
        (select coalesce(sum(lifetime_value), 0) from {{ ref('customers') }}) as lifetime_value,
        (select coalesce(sum(daily_revenue), 0) from {{ ref('daily_revenue') }}) as daily_revenue,
        (select coalesce(sum(total_orders), 0) from {{ ref('customers') }}) as ltv_orders,
        (select coalesce(sum(order_count), 0) from {{ ref('daily_revenue') }}) as daily_orders
)
select * from totals
where lifetime_value <> daily_revenue or ltv_orders <> daily_orders
