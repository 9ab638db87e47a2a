{% macro lake_read_files(paths) -%}
    {{ return(adapter.dispatch('lake_read_files')(paths)) }}
{%- endmacro %}

{% macro default__lake_read_files(paths) -%}
    (
    {%- for path in paths %}
        select
            *,
            {{ dbt.string_literal(path) }} as source_file
        from parquet.`{{ path }}`
        {{ "union all" if not loop.last }}
    {%- endfor %}
    )
{%- endmacro %}

{% macro duckdb__lake_read_files(paths) -%}
    (select * from read_parquet(
        [
        {%- for path in paths -%}
            {{ dbt.string_literal(path) }}{{ ", " if not loop.last }}
        {%- endfor -%}
        ],
        hive_partitioning = true,
        union_by_name = true,
        filename = 'source_file'
    ))
{%- endmacro %}
