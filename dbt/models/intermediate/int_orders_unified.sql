-- Orders as they are now: the batch's history (stg_postgres__orders) with every change landed since its
-- watermark applied (macro current_versions), updates replacing and deletes removing the row; each order once.
-- Ephemeral, read by live views.
{{ config(materialized='ephemeral') }}

{{ current_versions(ref('stg_postgres__orders'), ref('stg_postgres__orders_landed'), 'order_id',
                    ['order_id', 'customer_id', 'order_date', 'amount', 'status', 'updated_at', 'changed_at',
                     'deleted_at', 'loaded_at']) }}
