{#- Column names a query yields, in order, without running it. -#}
{% macro lake_partitions_columns(query) -%}
    {{ return(adapter.dispatch('lake_partitions_columns')(query)) }}
{%- endmacro %}

{% macro default__lake_partitions_columns(query) -%}
    {%- set described = run_query(
        'describe select * from (' ~ query ~ ') as model') -%}
    {{ return(described.columns[0].values() | list) }}
{%- endmacro %}

{% macro spark__lake_partitions_columns(query) -%}
    {%- set described = run_query(
        'describe query select * from (' ~ query ~ ') as model') -%}
    {{ return(described.columns[0].values() | list) }}
{%- endmacro %}
