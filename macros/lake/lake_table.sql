{#-
    Read a date-partitioned model (which the caller thereby refs) for some
    partition dates, or for all of them (`dates` none): the model's relation
    filtered on the dates as literals, so DuckLake (or Spark) opens only
    those partitions' files.
-#}
{% macro lake_table(model_name, dates=none) -%}
    {{ return(adapter.dispatch('lake_table')(model_name, dates)) }}
{%- endmacro %}

{% macro default__lake_table(model_name, dates=none) -%}
    (select * from {{ ref(model_name) }}
    {%- if dates is not none %}
    where {{ partition_filter('event_date', dates) }}
    {%- endif %})
{%- endmacro %}
