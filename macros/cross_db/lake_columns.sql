{% macro lake_columns(relation) -%}
    {%- if not execute or (relation | string).startswith('__dbt__cte__') -%}
        {{ return([]) }}
    {%- endif -%}
    {%- if relation is not string and not relation.external
        and load_relation(relation) is none -%}
        {{ return([]) }}
    {%- endif -%}
    {{ return(adapter.dispatch('lake_columns')(relation)) }}
{%- endmacro %}

{% macro default__lake_columns(relation) -%}
    {%- set described = run_query(
        'describe select * from ' ~ relation ~ ' as described') -%}
    {{ return(described.columns[0].values() | list) }}
{%- endmacro %}

{% macro spark__lake_columns(relation) -%}
    {%- set described = run_query(
        'describe query select * from ' ~ relation ~ ' as described') -%}
    {{ return(described.columns[0].values() | list) }}
{%- endmacro %}
