{#-
    The partition dates (YYYY-MM-DD strings) of a lake_partitions model that
    its most recent build wrote: what a test of that build should check,
    without reading the whole history.
-#}
{% macro latest_build_partitions(model_name) -%}
    {%- set state = lake_partitions_state(model_name) -%}
    {%- if not execute or load_relation(state) is none -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set query -%}
        select cast(event_date as {{ dbt.type_string() }})
        from {{ state }}
        where built_at = (select max(built_at) from {{ state }})
        order by 1
    {%- endset -%}
    {{ return(run_query(query).columns[0].values() | list) }}
{%- endmacro %}
