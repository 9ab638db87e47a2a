{#-
    The warehouse face of a lake_partitions table: a view over its files,
    read by column name so partitions written before a column was added read
    NULL for it. While no file exists, an empty view typed like the model.
-#}
{% macro lake_partitions_view(relation, location, query, columns,
    partition_by) -%}
    {%- set files_glob = location ~ '/' ~ partition_by ~ '=*/*.parquet' -%}
    {%- set found = run_query(
        'select count(*) from glob(' ~ dbt.string_literal(files_glob) ~ ')'
    ).columns[0].values()[0] -%}
    create or replace view {{ relation }} as
    select
    {%- for column in columns %}
        {{ adapter.quote(column) }}{{ "," if not loop.last }}
    {%- else %}
        *
    {%- endfor %}
    {%- if found > 0 %}
    from read_parquet(
        {{ dbt.string_literal(files_glob) }},
        hive_partitioning = true,
        hive_types = {'{{ partition_by }}': date},
        union_by_name = true
    )
    {%- else %}
    from ({{ query }}) as model
    where false
    {%- endif %}
{%- endmacro %}
