{% macro lake_table(model_name, dates=none) -%}
    {{ return(adapter.dispatch('lake_table')(model_name, dates)) }}
{%- endmacro %}

{% macro default__lake_table(model_name, dates=none) -%}
    (select * from {{ ref(model_name) }}
    {%- if dates is not none %}
    where {{ partition_filter('event_date', dates) }}
    {%- endif %})
{%- endmacro %}
