{#- Maps a raw order status to the documented set in var('order_statuses'); null when unknown. -#}
{% macro normalize_status(column) -%}
    case
    {%- for status, spellings in var('order_statuses').items() %}
        when lower(trim({{ column }})) in ({% for s in spellings %}'{{ s }}'{{ ", " if not loop.last }}{% endfor %}) then '{{ status }}'
    {%- endfor %}
    end
{%- endmacro %}
