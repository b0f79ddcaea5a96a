{#- The local lake mirror, on the `local` (DuckDB) target only. Keys follow infra/model/lake.py: each model of a
    layer in `<lake_root>/<layer>/<model name>/`; tests/dbt/test_dbt_local_build.py holds the two together. -#}

{#- Root of the local lake mirror; tooling/bronze_sources.py writes the same expression into the sources. -#}
{% macro lake_root() -%}
    {{ env_var('DBT_LAKE_ROOT', 'build/lake') }}
{%- endmacro %}

{% macro lake_location(layer, model_name=none) -%}
    {{ lake_root() }}/{{ layer }}/{{ model_name or model.name }}
{%- endmacro %}

{#- Fails the run early, with what to run, when the bronze mirror is absent. -#}
{% macro check_bronze_present() %}
    {% if execute and target.type == 'duckdb' %}
        {% set bronze = lake_root() ~ '/bronze' %}
        {% set found = run_query("select count(*) from glob('" ~ bronze ~ "/*/*/date=*/*.parquet')").columns[0].values()[0] %}
        {% if found == 0 %}
            {{ exceptions.raise_compiler_error(
                "No bronze Parquet files under '" ~ bronze ~ "'. Generate sample data with `make pipeline` "
                ~ "(or `PYTHONPATH=dbt .venv-dbt/bin/python -m tooling.generate`), or point DBT_LAKE_ROOT at a "
                ~ "folder laid out like the lake (bronze/<source>/<stream>/date=YYYY-MM-DD/*.parquet).") }}
        {% endif %}
        {#- DuckDB creates only the last folder of a path; make each written layer's folder exist. -#}
        {% for layer in var('lake_codecs') %}
            {% do run_query("copy (select 1 as k, 1 as v limit 0) to '" ~ lake_root() ~ "/" ~ layer
                            ~ "' (format parquet, partition_by (k), overwrite_or_ignore true)") %}
        {% endfor %}
    {% endif %}
    select 1
{% endmacro %}

{#- How a model of `layer` is laid out in its lake folder, as the catalog says (var('lake_partitions')): silver by a
    bounded hash of the model's `business_key` meta (folders `key_bucket=0` to `key_bucket=<buckets - 1>`), gold by
    the calendar period of its `period_column` meta (`year=YYYY/month=M`); a model without that meta is one folder
    of files of at most 512 MB. Returns the columns to add and the partition columns. -#}
{% macro lake_layout(layer) %}
    {% set meta = config.get('meta') or {} %}
    {% set layout = var('lake_partitions').get(layer, {}) %}
    {% set partitions = [] %}
    {% set columns = [] %}
    {% if layout.get('buckets') and meta.get('business_key') %}
        {% do columns.append('hash(' ~ meta['business_key'] | join(', ') ~ ') % ' ~ layout['buckets']
                             ~ ' as key_bucket') %}
        {% do partitions.append('key_bucket') %}
    {% elif layout.get('period') and meta.get('period_column') %}
        {% do columns.append('year(' ~ meta['period_column'] ~ ') as year') %}
        {% do partitions.append('year') %}
        {% if layout['period'] == 'month' %}
            {% do columns.append('month(' ~ meta['period_column'] ~ ') as month') %}
            {% do partitions.append('month') %}
        {% endif %}
    {% endif %}
    {{ return({'columns': columns, 'partitions': partitions}) }}
{% endmacro %}

{#- Writes the rows of the query `relation_sql` into the model's lake folder with its layer's codec
    and layout, replacing what the folder held. The partition columns are folder names, not file columns. -#}
{% macro write_to_lake(relation_sql, layer) %}
    {% set layout = lake_layout(layer) %}
    copy (select *{% for column in layout['columns'] %}, {{ column }}{% endfor %} from ({{ relation_sql }}) as model_rows)
    to '{{ lake_location(layer) }}'
    (format parquet, compression {{ var('lake_codecs')[layer] }}, overwrite true
    {%- if layout['partitions'] %}, partition_by ({{ layout['partitions'] | join(', ') }}){% else %}, file_size_bytes '512MB'{% endif %})
{% endmacro %}
