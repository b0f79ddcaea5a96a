-- Dremio raw reflection on the customer metrics view (the seed's raw_customers), `dremio` target only.
-- Columns as declared for this mart in infra/dataflow.yaml (tests/dbt/test_dbt_project.py keeps them equal).
{{ config(
    materialized='reflection',
    reflection_type='raw',
    display=['customer_id', 'customer_name', 'email', 'total_orders', 'lifetime_value', 'average_order_value',
             'first_order_date', 'last_order_date', 'customer_lifespan_days']
) }}
-- depends_on: {{ ref('fct_customer_lifetime_value') }}
