{#-
    dbt's filter of a tested model by the test's config `where`, with one
    placeholder resolved when the test runs: `__latest_build_partitions__`
    becomes the dates the running build changed in that model
    (`event_date in (...)` from latest_build_partitions, `false` for none),
    so a test costs what the build wrote, not the history. A `where` written
    in yml is rendered when the project is parsed, and partial parsing keeps
    it from one invocation to the next: a time written there goes stale.
-#}
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
