{% macro changed_partitions(upstream_name) -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- if (ref(upstream_name) | string).startswith('__dbt__cte__') -%}
        {{ exceptions.raise_compiler_error(
            "changed_partitions: '" ~ upstream_name ~ "' is a unit test"
            ~ " fixture, which has no change history: override the macro in"
            ~ " the unit test (overrides: macros: {changed_partitions: ["
            ~ "'YYYY-MM-DD', ...]})") }}
    {%- endif -%}
    {%- if load_relation(ref(upstream_name)) is none -%}
        {{ return([]) }}
    {%- endif -%}
    {{ return(adapter.dispatch('changed_partitions')(upstream_name)) }}
{%- endmacro %}

{% macro default__changed_partitions(upstream_name) -%}
    {%- set upstream = ref(upstream_name) -%}
    {%- set since = none -%}
    {%- if is_incremental() -%}
        {%- set since = run_query(
            "select cast(max(consumed_through) as varchar)"
            ~ " from control.model_watermarks where model_name = '"
            ~ watermark_name(this.identifier) ~ "' and upstream_name = '"
            ~ upstream_name
            ~ "'").columns[0].values()[0] -%}
    {%- endif -%}
    {%- if since is none -%}
        {{ return(run_query(
            "select distinct cast(event_date as varchar) from " ~ upstream
            ~ " order by 1").columns[0].values() | list) }}
    {%- endif -%}
    {{ return(dates_changed_since(upstream, since)) }}
{%- endmacro %}

{#-
    DuckLake: the event_dates (YYYY-MM-DD strings, sorted) of the rows
    inserted into or deleted from a relation since an instant (text), from
    its change feed (ducklake_table_changes).
-#}
{% macro dates_changed_since(relation, since) -%}
    {%- set query -%}
        select distinct cast(event_date as varchar)
        from ducklake_table_changes(
            '{{ relation.database }}', '{{ relation.schema }}',
            '{{ relation.identifier }}',
            cast('{{ since }}' as timestamp with time zone),
            now()
        )
        order by 1
    {%- endset -%}
    {{ return(run_query(query).columns[0].values() | list) }}
{%- endmacro %}

{#- Spark: the upstream's lake_partitions state table. -#}
{% macro spark__changed_partitions(upstream_name) -%}
    {%- set state = lake_partitions_state(upstream_name) -%}
    {%- if load_relation(state) is none -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set query -%}
        select cast(event_date as {{ dbt.type_string() }})
        from {{ state }}
        {%- if is_incremental() %}
        where built_at > coalesce(
            (
                select max(consumed_through)
                from control.model_watermarks
                where
                    model_name = '{{ this.identifier }}'
                    and upstream_name = '{{ upstream_name }}'
            ),
            cast('1970-01-01' as {{ type_instant() }})
        )
        {%- endif %}
        order by 1
    {%- endset -%}
    {{ return(run_query(query).columns[0].values() | list) }}
{%- endmacro %}
