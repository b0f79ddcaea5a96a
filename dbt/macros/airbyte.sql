{#- The columns every staged stream takes from what Airbyte writes with each record: its id, when the change was
    committed at the source (`_ab_cdc_updated_at` of a CDC sync, else the row's own `updated_at`), when it was
    deleted there (`_ab_cdc_deleted_at`, set on a delete only), and when Airbyte read it (the load time). -#}
{% macro airbyte_change_columns() -%}
        _airbyte_raw_id as raw_id,
        coalesce(_ab_cdc_updated_at, updated_at) as changed_at,
        _ab_cdc_deleted_at as deleted_at,
        _airbyte_extracted_at as loaded_at
{%- endmacro %}

{#- Of several versions of one row, the newest wins: the latest change at the source, then the later load. -#}
{% macro newest_version_first() -%}
    changed_at desc, loaded_at desc
{%- endmacro %}
