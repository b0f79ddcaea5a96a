{#- On the `local` (DuckDB) target a model that keeps rows is stored in the lake, as it is on Dremio: its rows are
    written once, as Parquet, into `<lake_root>/<layer>/<model>/` (macro write_to_lake), and DuckDB holds only a view
    of those files. DuckDB is the engine, not a second copy: writing every model both into the database file and
    into the lake cost the build most of its time once DuckDB runs within a memory limit (decision 0059).

    `table` replaces the folder on every run. `incremental` reads the rows the model selects (its is_incremental()
    branch sees the view of the current files as `this`), keeps the current rows whose `unique_key` none of them
    carries, and writes the two back in place of the folder (the delete+insert strategy; with no unique_key, the new
    rows are appended). The merge is built in a temporary table first, because the folder it replaces is one of
    its inputs. The view is dropped, committed, before the folder is overwritten (macro forget_lake_state), so a
    build that fails while writing leaves no stored state and the next build rebuilds the model in full from
    bronze, which keeps every version (tests/dbt/test_dbt_incremental.py holds the two ways equal). -#}

{% materialization table, adapter='duckdb' %}
    {%- set existing = load_cached_relation(this) -%}
    {%- set target = this.incorporate(type='view') -%}
    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}
    {%- set layer = lake_layer_of_model() -%}
    {% call statement('main') -%}
        {{ write_to_lake(sql, layer) }}
    {%- endcall %}
    {% do finish_lake_model(existing, target, layer, sql, post_hooks) %}
    {{ return({'relations': [target]}) }}
{% endmaterialization %}

{% materialization incremental, adapter='duckdb' %}
    {%- set existing = load_cached_relation(this) -%}
    {%- set target = this.incorporate(type='view') -%}
    {%- set layer = lake_layer_of_model() -%}
    {%- set strategy = config.get('incremental_strategy') or 'delete+insert' -%}
    {%- if strategy not in ('delete+insert', 'append') -%}
        {{ exceptions.raise_compiler_error("Model '" ~ model.name ~ "': on the local target an incremental model is "
            ~ "stored in the lake and supports the delete+insert and append strategies, not '" ~ strategy
            ~ "'. Set incremental_strategy to one of those for target.type 'duckdb'.") }}
    {%- endif -%}
    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}
    {%- set empty_sql = sql -%}
    {% if not lake_view_exists(existing) or should_full_refresh() %}
        {% do forget_lake_state(existing) %}
        {% call statement('main') -%}
            {{ write_to_lake(sql, layer) }}
        {%- endcall %}
    {% else %}
        {%- set arrived = api.Relation.create(identifier=model.name ~ '__dbt_arrived', type='table') -%}
        {%- set merged = api.Relation.create(identifier=model.name ~ '__dbt_merged', type='table') -%}
        {% call statement('arrived') -%}
            create or replace temporary table {{ arrived }} as {{ sql }}
        {%- endcall %}
        {% do check_lake_schema(existing, arrived) %}
        {%- set keys = config.get('unique_key') -%}
        {%- set keys = [keys] if keys is string else (keys or []) -%}
        {% call statement('merged') -%}
            create or replace temporary table {{ merged }} as
            select * from {{ existing }} as kept
            {%- if keys and strategy == 'delete+insert' %}
            where not exists (
                select 1 from {{ arrived }} as arrived
                where {% for key in keys %}arrived.{{ key }} = kept.{{ key }}{{ " and " if not loop.last }}{% endfor %}
            )
            {%- endif %}
            union all by name
            select * from {{ arrived }}
        {%- endcall %}
        {#- The model's SQL reads the view being replaced: an empty result gets a view from the merge's column
            types instead, which does not read itself. -#}
        {%- set columns = adapter.get_columns_in_relation(merged) -%}
        {%- set empty_sql -%}
            select {% for column in columns %}cast(null as {{ column.data_type }}) as {{ adapter.quote(column.name) }}
            {{- ", " if not loop.last }}{% endfor %}
        {%- endset -%}
        {% do forget_lake_state(existing) %}
        {% call statement('main') -%}
            {{ write_to_lake("select * from " ~ merged, layer) }}
        {%- endcall %}
        {% do adapter.drop_relation(arrived) %}
        {% do adapter.drop_relation(merged) %}
    {% endif %}
    {% do finish_lake_model(existing, target, layer, empty_sql, post_hooks) %}
    {{ return({'relations': [target]}) }}
{% endmaterialization %}

{#- Drops the view of an incremental model's folder, committed, just before the folder is overwritten: the files
    do not roll back with dbt's transaction, so a write that fails or is stopped midway must leave no stored state,
    and the next build then rebuilds the model in full from bronze instead of merging into a broken folder. -#}
{% macro forget_lake_state(existing) %}
    {% if lake_view_exists(existing) %}
        {% do adapter.drop_relation(existing) %}
        {% do adapter.commit() %}
    {% endif %}
{% endmacro %}

{#- After the rows are written: the view of the files, the post-hooks around the commit, the docs on the view. -#}
{% macro finish_lake_model(existing, target, layer, sql, post_hooks) %}
    {% do replace_lake_view(existing, target, layer, sql) %}
    {% do run_hooks(post_hooks, inside_transaction=True) %}
    {% do persist_docs(target, model) %}
    {% do adapter.commit() %}
    {% do run_hooks(post_hooks, inside_transaction=False) %}
{% endmacro %}

{#- The lake layer a stored model belongs to (its `lake_layer` meta, set per folder in dbt_project.yml). -#}
{% macro lake_layer_of_model() %}
    {%- set layer = (config.get('meta') or {}).get('lake_layer') -%}
    {%- if layer not in var('lake_codecs') -%}
        {{ exceptions.raise_compiler_error("Model '" ~ model.name ~ "' keeps rows but has no lake layer: on the local "
            ~ "target its rows are stored in the lake. Give its folder `+meta: {lake_layer: silver}` (or gold) in "
            ~ "dbt_project.yml.") }}
    {%- endif -%}
    {{ return(layer) }}
{% endmacro %}

{#- True when `relation` is the view of a lake folder this materialization made (a table of the same name, left
    by an older layout, is rebuilt in full). -#}
{% macro lake_view_exists(relation) %}
    {{ return(relation is not none and relation.type == 'view') }}
{% endmacro %}

{#- Points the model's view at its lake files. A folder with no rows has no files to read, so the view then selects
    the model's columns with no rows. -#}
{% macro replace_lake_view(existing, target, layer, sql) %}
    {% if existing is not none and existing.type != 'view' %}
        {% do adapter.drop_relation(existing) %}
    {% endif %}
    {%- set files = lake_location(layer) ~ '/**/*.parquet' -%}
    {%- set found = run_query("select count(*) from glob('" ~ files ~ "')").columns[0].values()[0] -%}
    {% call statement('view') -%}
        create or replace view {{ target }} as
        {% if found -%}
        select * from read_parquet('{{ files }}', hive_partitioning = false)
        {%- else -%}
        select * from ({{ sql }}) as model_rows where false
        {%- endif %}
    {%- endcall %}
{% endmacro %}

{#- on_schema_change for a lake-stored incremental model: `fail` (the project's choice) and `ignore` are supported;
    under `fail` a changed column list or column type stops the run and says how to rebuild, as dbt's own check
    does. -#}
{% macro check_lake_schema(existing, arrived) %}
    {%- set policy = config.get('on_schema_change') or 'ignore' -%}
    {%- if policy not in ('fail', 'ignore') -%}
        {{ exceptions.raise_compiler_error("Model '" ~ model.name ~ "': on_schema_change '" ~ policy ~ "' is not "
            ~ "supported for a lake-stored incremental model on the local target; use 'fail' or 'ignore', and "
            ~ "rebuild with --full-refresh after a schema change.") }}
    {%- endif -%}
    {%- set before = column_signature(existing) -%}
    {%- set now = column_signature(arrived) -%}
    {%- if policy == 'fail' and before != now -%}
        {{ exceptions.raise_compiler_error("Model '" ~ model.name ~ "': its columns changed from " ~ before ~ " to "
            ~ now ~ " and on_schema_change is 'fail'. Rebuild it with `dbt build --full-refresh --select "
            ~ model.name ~ "`.") }}
    {%- endif -%}
{% endmacro %}

{#- Each column of a relation as `name type`, in order. -#}
{% macro column_signature(relation) %}
    {%- set signature = [] -%}
    {%- for column in adapter.get_columns_in_relation(relation) -%}
        {%- do signature.append(column.name ~ ' ' ~ column.data_type) -%}
    {%- endfor -%}
    {{ return(signature) }}
{% endmacro %}

{#- dbt's is_incremental() asks for a table; on the local target the stored model is a view of its lake files. -#}
{% macro is_incremental() %}
    {% if not execute %}
        {{ return(False) }}
    {% endif %}
    {% set relation = adapter.get_relation(this.database, this.schema, this.table) %}
    {#- On DuckDB only the lake view is stored state: a table left by the older layout is rebuilt in full, so the
        model must compile its full SQL then (lake_view_exists). -#}
    {% set stored = lake_view_exists(relation) if target.type == 'duckdb'
                    else relation is not none and relation.type == 'table' %}
    {{ return(stored and model.config.materialized == 'incremental' and not should_full_refresh()) }}
{% endmacro %}
