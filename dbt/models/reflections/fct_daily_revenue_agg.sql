-- Dremio aggregation reflection on daily revenue (the seed's agg_daily_revenue), `dremio` target only.
-- Dimensions and measures as declared for this mart in infra/dataflow.yaml.
{{ config(
    materialized='reflection',
    reflection_type='aggregate',
    dimensions=['order_date'],
    measures=['daily_revenue', 'order_count'],
    computations=['SUM', 'SUM']
) }}
-- depends_on: {{ ref('fct_daily_revenue') }}
