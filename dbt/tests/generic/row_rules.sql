{#- Several row rules of one model checked in a single read of it: a key that must be unique (one column or
    several; rows whose key is null are not compared, as in dbt's unique), columns that must not be null, and columns whose values must come from a list (null passes, as in
    dbt's accepted_values). Each rule is what dbt's own generic test of that name checks; together they cost one
    query instead of one per rule, which matters on a view that computes its rows when read: the `orders` mart,
    the Lambda model's live view, reads the batch's history and the landed rows every time (decision 0059).
    Returns one row per key value that breaks a rule, with how often it breaks each. -#}
{% test row_rules(model, unique, not_null=[], accepted_values={}) %}
{%- set key = [unique] if unique is string else unique -%}
{%- set checks = [] -%}
{%- for column in not_null -%}
    {%- do checks.append(('null_' ~ column, column ~ ' is null')) -%}
{%- endfor -%}
{%- for column, values in accepted_values.items() -%}
    {%- do checks.append((column ~ '_not_accepted', column ~ " not in ('" ~ values | join("', '") ~ "')")) -%}
{%- endfor -%}
select *
from (
    select
        {{ key | join(', ') }},
        count(*) as rows_with_key
        {%- for name, condition in checks %},
        sum(case when {{ condition }} then 1 else 0 end) as {{ name }}
        {%- endfor %}
    from {{ model }}
    group by {{ key | join(', ') }}
) as per_key
where (rows_with_key > 1{% for column in key %} and {{ column }} is not null{% endfor %})
{%- for name, _ in checks %}
   or {{ name }} > 0
{%- endfor %}
{% endtest %}
