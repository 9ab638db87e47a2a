{% macro delete_changed_partitions(upstream_name) -%}
    {{ return(adapter.dispatch('delete_changed_partitions')(upstream_name)) }}
{%- endmacro %}

{% macro default__delete_changed_partitions(upstream_name) -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where {{ partition_filter(
            'event_date', changed_partitions(upstream_name)) }}
    {%- endif -%}
{%- endmacro %}

{% macro spark__delete_changed_partitions(upstream_name) -%}
    {%- set dates = changed_partitions(upstream_name) if is_incremental()
        else [] -%}
    {{- spark_drop_partitions(this, dates) -}}
{%- endmacro %}
