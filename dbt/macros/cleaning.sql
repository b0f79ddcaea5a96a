{#- Maps a raw order status to the documented set in var('order_statuses'); null when unknown. -#}
{% macro normalize_status(column) -%}
    case
    {%- for status, spellings in var('order_statuses').items() %}
        when lower(trim({{ column }})) in ({% for s in spellings %}'{{ s }}'{{ ", " if not loop.last }}{% endfor %}) then '{{ status }}'
    {%- endfor %}
    end
{%- endmacro %}

{#- Why an order cannot be used: the first rule it breaks, in the order of var('reject_reasons'), else null.
    `orders` names a relation with the staged order's columns, `customers` the customer it was joined to (its
    customer_id is null when the order's customer is not, or no longer, in the source). -#}
{% macro order_reject_reason(orders, customers) -%}
    case
        when {{ orders }}.order_id is null then 'null_order_id'
        when {{ orders }}.customer_id is null then 'null_customer_id'
        when {{ orders }}.amount is null or {{ orders }}.amount <= 0 then 'non_positive_amount'
        when {{ orders }}.status is null then 'unknown_status'
        when {{ customers }}.customer_id is null then 'unknown_customer'
    end
{%- endmacro %}
