{#-
    Column names of a relation or subquery, found by describing it. Used to
    pass through fields the event contract gained after a model was written.
    Empty at parse time and for a unit test's fixture (a CTE of the test
    query that cannot be described on its own).
-#}
{% macro lake_columns(relation) -%}
    {%- if not execute or (relation | string).startswith('__dbt__cte__') -%}
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
