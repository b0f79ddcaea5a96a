-- Generated from infra/dataflow.yaml by `make mart-assets`; do not edit (a test fails when this file is stale).
-- Dremio raw reflection on the mart `customers`, as the catalog declares it; `dremio` target only.
{{ config(
    materialized='reflection',
    reflection_type='raw',
    display=['customer_id', 'customer_name', 'email', 'total_orders', 'lifetime_value', 'average_order_value',
             'first_order_date', 'last_order_date', 'customer_lifespan_days']
) }}
-- depends_on: {{ ref('customers') }}
