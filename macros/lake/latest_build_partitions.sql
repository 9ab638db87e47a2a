{#-
    The partition dates (YYYY-MM-DD strings) of a model that the running
    invocation changed (on Spark: that its latest build wrote): what a test
    of that build should check, without reading the whole history.
-#}
{% macro latest_build_partitions(model_name) -%}
    {%- set relation = ref(model_name) -%}
    {%- if not execute or load_relation(relation) is none -%}
        {{ return([]) }}
    {%- endif -%}
    {{ return(adapter.dispatch('latest_build_partitions')(model_name)) }}
{%- endmacro %}

{#- DuckLake: the dates of the rows this invocation inserted or deleted. -#}
{% macro default__latest_build_partitions(model_name) -%}
    {%- set relation = ref(model_name) -%}
    {%- set query -%}
        select distinct cast(event_date as varchar)
        from ducklake_table_changes(
            '{{ relation.database }}', '{{ relation.schema }}',
            '{{ relation.identifier }}',
            cast('{{ run_started_at.isoformat() }}'
                    as timestamp with time zone),
            now()
        )
        order by 1
    {%- endset -%}
    {{ return(run_query(query).columns[0].values() | list) }}
{%- endmacro %}

{% macro spark__latest_build_partitions(model_name) -%}
    {%- set state = lake_partitions_state(model_name) -%}
    {%- if load_relation(state) is none -%}
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
