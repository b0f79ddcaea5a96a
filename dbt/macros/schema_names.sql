{#- Where a model lands. On `local` and `postgres`: the schema named after its lake layer (silver, gold), not
    `<target schema>_<layer>`: the layer is the contract the grants rely on. On `dremio`: tables in the
    write-enabled lake source under the bucket the runner names (`object_storage_path`, the silver bucket; the
    source's root is the store's root, so a path starts with its bucket), views in the marts space's folder
    (`dremio_space_folder`). infra/model/naming.py holds these names; tests/dbt/test_dbt_dremio_names.py checks them. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if target.type == 'dremio' -%}
        {{ target.root_path if is_datalake_node(node) else target.schema }}
    {%- elif custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
