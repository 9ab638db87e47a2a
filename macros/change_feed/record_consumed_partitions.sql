{% macro record_consumed_partitions(upstream_name) -%}
    {{ return(adapter.dispatch('record_consumed_partitions')(upstream_name)) }}
{%- endmacro %}

{#-
    DuckLake: a row is appended (readers take the newest). Replacing it would
    delete from the table, and DuckLake checks a delete against concurrent
    inserts per table: two models of one build finishing at once (threads:
    2 on PostgreSQL) would make one commit fail.
-#}
{% macro default__record_consumed_partitions(upstream_name) -%}
    insert into control.model_watermarks
    select
        '{{ watermark_name(this.identifier) }}' as model_name,
        '{{ upstream_name }}' as upstream_name,
        current_timestamp as consumed_through,
        current_timestamp as updated_at
{%- endmacro %}

{#- Parquet tables on Spark have no upsert: a row per build is appended. -#}
{% macro spark__record_consumed_partitions(upstream_name) -%}
    {%- set state = lake_partitions_state(upstream_name) -%}
    insert into control.model_watermarks
    select
        '{{ this.identifier }}' as model_name,
        '{{ upstream_name }}' as upstream_name,
        max(built_at) as consumed_through,
        current_timestamp as updated_at
    from {{ state }}
    having max(built_at) is not null
{%- endmacro %}
