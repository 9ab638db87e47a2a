{#-
    Pre-hook of a model rebuilt by date from changed_partitions(upstream_name):
    on an incremental run, deletes the changed dates first, so a date
    rewritten to no rows (every subject erased) leaves no stale rows behind
    (delete+insert alone deletes only the dates that still have rows).
-#}
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

{#- Spark's Parquet tables have no DELETE: the dates' partitions are dropped. -#}
{% macro spark__delete_changed_partitions(upstream_name) -%}
    {%- set dates = changed_partitions(upstream_name) if is_incremental()
        else [] -%}
    {{- spark_drop_partitions(this, dates) -}}
{%- endmacro %}


{#- `alter table … drop` of some date partitions; nothing for no date. -#}
{% macro spark_drop_partitions(relation, dates, column='event_date') -%}
    {%- if dates -%}
        alter table {{ relation }} drop if exists
        {%- for value in dates %}
            partition ({{ column }} = {{ dbt.string_literal(value) }})
            {{- "," if not loop.last }}
        {%- endfor %}
    {%- endif -%}
{%- endmacro %}
