{#- Models land in the schema named after their lake layer (silver, gold) on every target, not in
    `<target schema>_<layer>`: the layer is the contract the grants and the Dremio folders rely on. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
