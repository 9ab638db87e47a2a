{#-
    One row per partition value of the input named by `changed_in`
    ({model, changed_at, where}) with the last time that input changed.
    A lake_partitions input is read through its state table.
-#}
{% macro lake_partitions_changes(changed_in, partition_by) -%}
    {%- if changed_in is not mapping or 'model' not in changed_in -%}
        {{ exceptions.raise_compiler_error(
            "lake_partitions: expected config partitions_changed_in ="
            ~ " {model: <name>, changed_at: <column>, where: <condition>},"
            ~ " got " ~ changed_in) }}
    {%- endif -%}
    {%- set upstream = ref(changed_in['model']) -%}
    {%- set node = graph.nodes.values()
        | selectattr('resource_type', 'equalto', 'model')
        | selectattr('name', 'equalto', changed_in['model'])
        | first -%}
    {%- if node and node.config.materialized == 'lake_partitions' -%}
        {%- set upstream = lake_partitions_state_relation(upstream) -%}
        {%- set changed_at = 'built_at' -%}
    {%- else -%}
        {%- set changed_at = changed_in.get('changed_at', 'changed_at') -%}
    {%- endif -%}
    select
        {{ partition_by }},
        max({{ changed_at }}) as changed_at
    from {{ upstream }}
    {%- if changed_in.get('where') %}
    where {{ changed_in['where'] }}
    {%- endif %}
    group by 1
{%- endmacro %}


{#-
    The partitions a lake_partitions build writes, as (partition value as
    text, changed_at) ordered by value: every input partition on a full
    refresh, else those whose input changed since the state table last
    recorded them.
-#}
{% macro lake_partitions_plan(changed_in, partition_by, state, full_refresh) -%}
    {%- set changes = lake_partitions_changes(changed_in, partition_by) -%}
    select
        cast(changes.{{ partition_by }} as {{ dbt.type_string() }}),
        changes.changed_at
    from ({{ changes }}) as changes
    {%- if not full_refresh %}
    left join {{ state }} as state
        on changes.{{ partition_by }} = state.{{ partition_by }}
    where state.input_changed_at is null
        or changes.changed_at > state.input_changed_at
    {%- endif %}
    order by 1
{%- endmacro %}
