{#-
    Read a lake_partitions model (which the caller thereby refs) for some
    partition dates, or for all of them (`dates` none). On DuckDB the model's
    folders are read directly: only the listed partitions' files are opened
    (their footers included), where the model's view would bind every file
    of the table. A `none` read keeps the `event_date=*` glob, which the
    lake_partitions materialization narrows to the partition it writes.
    Elsewhere: the model's relation filtered on the dates.
-#}
{% macro lake_table(model_name, dates=none) -%}
    {{ return(adapter.dispatch('lake_table')(model_name, dates)) }}
{%- endmacro %}

{% macro default__lake_table(model_name, dates=none) -%}
    (select * from {{ ref(model_name) }}
    {%- if dates is not none %}
    where {{ partition_filter('event_date', dates) }}
    {%- endif %})
{%- endmacro %}

{% macro duckdb__lake_table(model_name, dates=none) -%}
    {%- set relation = ref(model_name) -%}
    {%- if not execute or (relation | string).startswith('__dbt__cte__')
        or load_relation(relation) is none -%}
        {{ return(default__lake_table(model_name, dates)) }}
    {%- endif -%}
    {%- set node = graph.nodes.values()
        | selectattr('resource_type', 'equalto', 'model')
        | selectattr('name', 'equalto', model_name) | first -%}
    {%- if node.config.materialized != 'lake_partitions' -%}
        {{ exceptions.raise_compiler_error(
            "lake_table: expected a lake_partitions model, got '"
            ~ model_name ~ "' materialized as " ~ node.config.materialized) }}
    {%- endif -%}
    {%- set location = lake_partitions_location(node) -%}
    {#- One listing of the table's partition folders that hold a file. -#}
    {%- set present = run_query(
        "select distinct regexp_extract(file, 'event_date=([^/]+)/', 1)"
        ~ " from glob(" ~ dbt.string_literal(
            location ~ '/event_date=*/*.parquet') ~ ")"
    ).columns[0].values() | list -%}
    {%- set existing = [] -%}
    {%- if dates is none and present -%}
        {%- do existing.append(dbt.string_literal(
            location ~ '/event_date=*/*.parquet')) -%}
    {%- elif dates is not none -%}
        {%- for value in dates if value in present -%}
            {%- do existing.append(dbt.string_literal(
                location ~ '/event_date=' ~ value ~ '/*.parquet')) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if existing | length == 0 -%}
        {#- Typed from the catalog: selecting from the view would bind it. -#}
        (select
        {%- for column in adapter.get_columns_in_relation(relation) %}
            cast(null as {{ column.data_type }})
                as {{ adapter.quote(column.name) }}
            {{- "," if not loop.last }}
        {%- endfor %}
        where false)
    {%- else -%}
        (select * from read_parquet(
            [{{ existing | join(', ') }}],
            hive_partitioning = true,
            union_by_name = true
        ))
    {%- endif -%}
{%- endmacro %}
