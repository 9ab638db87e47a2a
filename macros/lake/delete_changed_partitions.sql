{#-
    Pre-hook of a model rebuilt by date from changed_partitions(upstream_name):
    on an incremental run, deletes the changed dates first, so a date
    rewritten to no rows (every subject erased) leaves no stale rows behind
    (delete+insert alone deletes only the dates that still have rows).
-#}
{% macro delete_changed_partitions(upstream_name) -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where {{ partition_filter(
            'event_date', changed_partitions(upstream_name)) }}
    {%- endif -%}
{%- endmacro %}
