{#-
    Post-hook of a model that reads changed_partitions(upstream_name): records
    that it has consumed every change of the upstream so far.
-#}
{% macro record_consumed_partitions(upstream_name) -%}
    {{ return(adapter.dispatch('record_consumed_partitions')(upstream_name)) }}
{%- endmacro %}

{#- DuckLake has no upsert: the model's row is replaced (one commit). -#}
{% macro default__record_consumed_partitions(upstream_name) -%}
    delete from control.model_watermarks
    where
        model_name = '{{ this.identifier }}'
        and upstream_name = '{{ upstream_name }}';
    insert into control.model_watermarks
    select
        '{{ this.identifier }}' as model_name,
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
