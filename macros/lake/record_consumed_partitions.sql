{#-
    Post-hook of a model that reads changed_partitions(upstream_name): records
    that it has consumed every partition written so far.
-#}
{% macro record_consumed_partitions(upstream_name) -%}
    {%- set state = lake_partitions_state(upstream_name) -%}
    insert or replace into control.model_watermarks
    select
        '{{ this.identifier }}' as model_name,
        '{{ upstream_name }}' as upstream_name,
        max(built_at) as consumed_through,
        current_timestamp as updated_at
    from {{ state }}
    having max(built_at) is not null
{%- endmacro %}
