-- Generated from infra/dataflow.yaml by `make mart-assets`; do not edit (a test fails when this file is stale).
-- Dremio aggregation reflection on the mart `daily_revenue`, as the catalog declares it; `dremio` target only.
{{ config(
    materialized='reflection',
    reflection_type='aggregate',
    dimensions=['order_date'],
    measures=['daily_revenue', 'order_count'],
    computations=['SUM', 'SUM']
) }}
-- depends_on: {{ ref('daily_revenue') }}
