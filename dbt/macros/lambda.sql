{#- The Lambda model's one rule: the current version of every keyed row is the newest of its version in the
    batch's history (`cold`, one row per key, deletes kept as rows with deleted_at set) and the rows landed since
    the batch's watermark (`hot`). Keys the hot path does not touch keep their cold row as it is; a touched key
    takes the newest version of both, so a row read by the batch and landed again at the watermark is one
    version, not two. Deleted rows are left out; rows without a key are never current. -#}
{% macro current_versions(cold, hot, key, columns) -%}
    {%- set listed = columns | join(', ') %}
    select {{ listed }}
    from (
        select {{ listed }}, row_number() over (partition by {{ key }} order by {{ newest_version_first() }}) as version_rank
        from (
            select {{ listed }} from {{ cold }}
            where {{ key }} in (select {{ key }} from {{ hot }} where {{ key }} is not null)
            union all
            select {{ listed }} from {{ hot }}
            where {{ key }} is not null
        ) as touched_versions
    ) as touched
    where version_rank = 1
      and deleted_at is null
    union all
    select {{ listed }}
    from {{ cold }}
    where {{ key }} is not null
      and deleted_at is null
      and {{ key }} not in (select {{ key }} from {{ hot }} where {{ key }} is not null)
{%- endmacro %}
