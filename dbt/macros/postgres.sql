{#- The renaming and casting of the postgres source's streams, shared by the batch's staging models (the cold
    history) and the rows landed since its watermark (the hot path, models/staging/postgres/*_landed.sql), so
    both read bronze the same way. -#}
{% macro postgres_customers_renamed() -%}
        customer_id,
        upper(trim(name)) as customer_name,
        lower(trim(email)) as email,
        phone,
        city,
        state,
        zip_code,
        created_at,
        updated_at,
        {{ airbyte_change_columns() }}
{%- endmacro %}

{% macro postgres_orders_renamed() -%}
        order_id,
        customer_id,
        order_date,
        cast(amount as decimal(12, 2)) as amount,
        status as status_raw,
        {{ normalize_status('status') }} as status,
        updated_at,
        {{ airbyte_change_columns() }}
{%- endmacro %}
