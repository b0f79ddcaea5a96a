{#- dbt's datediff on Dremio, chosen by dbt's dispatch on that target only. dbt-dremio 1.11's own
    dremio__datediff (macros/utils/date_spine.sql) renders a `select` in front of the expression
    (`..., select DATEDIFF(b, a) as x`), which no SQL parser accepts inside a select list; this one renders
    TIMESTAMPDIFF, which Dremio documents (function_specs/documented/TIMESTAMPDIFF.yaml in dremio-oss): the whole
    units from the first to the second. tests/dbt/test_dbt_dremio_sql.py checks its rendering. -#}
{% macro dremio__datediff(first_date, second_date, datepart) -%}
    {%- if datepart | lower not in ('year', 'quarter', 'month', 'week', 'day', 'hour', 'minute', 'second') -%}
        {{ exceptions.raise_compiler_error("datediff on Dremio: no unit '" ~ datepart ~ "' (TIMESTAMPDIFF takes "
                                           ~ "year, quarter, month, week, day, hour, minute or second)") }}
    {%- endif -%}
    TIMESTAMPDIFF({{ datepart | upper }}, {{ first_date }}, {{ second_date }})
{%- endmacro %}
