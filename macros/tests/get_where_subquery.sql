{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- set placeholder = '__latest_build_partitions__' -%}
    {%- if where and placeholder in where -%}
        {%- set where = where | replace(placeholder, partition_filter(
            'event_date', latest_build_partitions(relation.identifier))) -%}
    {%- endif -%}
    {%- if not where -%}
        {{ return(relation) }}
    {%- endif -%}
    {{ return('(select * from ' ~ relation ~ ' where ' ~ where
        ~ ') dbt_subquery') }}
{%- endmacro %}
