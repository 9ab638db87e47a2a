{#-
    Post-hook of a model that reads changed_partitions(upstream_name): records
    that it has consumed every partition written so far.
-#}
{% macro record_consumed_partitions(upstream_name) -%}
    {{ return(adapter.dispatch('record_consumed_partitions')(upstream_name)) }}
{%- endmacro %}

{% macro default__record_consumed_partitions(upstream_name) -%}
    insert or replace into control.model_watermarks
    {{ consumed_partitions_watermark(upstream_name) }}
{%- endmacro %}

{#- Parquet tables on Spark have no upsert: a row per build is appended. -#}
{% macro spark__record_consumed_partitions(upstream_name) -%}
    insert into control.model_watermarks
    {{ consumed_partitions_watermark(upstream_name) }}
{%- endmacro %}

{#- The watermark row: what the calling model has consumed of upstream_name. -#}
{% macro consumed_partitions_watermark(upstream_name) -%}
    {%- set state = lake_partitions_state(upstream_name) -%}
    select
        '{{ this.identifier }}' as model_name,
        '{{ upstream_name }}' as upstream_name,
        max(built_at) as consumed_through,
        current_timestamp as updated_at
    from {{ state }}
    having max(built_at) is not null
{%- endmacro %}
