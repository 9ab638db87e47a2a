{#-
    Post-hook of the hot mirror: deletes the dates older than the newest
    var hot_days dates of fct_events.
-#}
{% macro expire_hot_partitions() -%}
    delete from {{ this }}
    where event_date < (
        select {{ dbt.dateadd('day', 1 - var('hot_days'), 'max(event_date)') }}
        from {{ lake_partitions_state('fct_events') }}
    )
{%- endmacro %}
