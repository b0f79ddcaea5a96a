-- Customers as they are now: the batch's history (stg_postgres__customers) with every change landed since its
-- watermark applied (macro current_versions); deleted customers are left out. Ephemeral, read by live views.
{{ config(materialized='ephemeral') }}

{{ current_versions(ref('stg_postgres__customers'), ref('stg_postgres__customers_landed'), 'customer_id',
                    ['customer_id', 'customer_name', 'email', 'changed_at', 'deleted_at', 'loaded_at']) }}
