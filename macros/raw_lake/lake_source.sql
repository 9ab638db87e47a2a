{% macro lake_source(source_name, table_name) -%}
    {{ return(adapter.dispatch('lake_source')(source_name, table_name)) }}
{%- endmacro %}

{% macro default__lake_source(source_name, table_name) -%}
    {{ return(source(source_name, table_name)) }}
{%- endmacro %}

{% macro duckdb__lake_source(source_name, table_name) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if not execute or not relation.external -%}
        {{ return(relation) }}
    {%- endif -%}

    {%- set node = graph.sources.values()
        | selectattr('source_name', 'equalto', source_name)
        | selectattr('name', 'equalto', table_name)
        | first -%}
    {%- set files = lake_files_to_merge() -%}
    {%- if files -%}
        {#- Those files only: no other footer is read, however long the
            history. -#}
        {%- set files_sql -%}
            (select * from read_parquet(
                [
                {%- for path in files -%}
                    {{ dbt.string_literal(path) }}{{ ", " if not loop.last }}
                {%- endfor -%}
                ],
                hive_partitioning = true,
                union_by_name = true,
                filename = '_source_file'
            ))
        {%- endset -%}
        {{ return(files_sql) }}
    {%- endif -%}

    {%- set columns = node.columns.values() | list -%}
    {%- set untyped = columns | rejectattr('data_type') | map(attribute='name')
        | list -%}
    {%- if not columns or untyped -%}
        {{ exceptions.raise_compiler_error(
            "lake_source: to stand in for no new file, every column of '"
            ~ source_name ~ "." ~ table_name ~ "' needs a data_type; missing: "
            ~ (untyped | join(', ') if columns else 'no columns declared')
        ) }}
    {%- endif -%}
    {{ log(
        "lake_source: no new file of " ~ source_name ~ "." ~ table_name
        ~ " to merge; it reads as empty",
        info=True
    ) }}
    {%- set empty_sql -%}
        (select
        {%- for column in columns %}
            cast(null as {{ column.data_type }}) as {{ column.name }}
            {%- if not loop.last %},{% endif %}
        {%- endfor %}
        where false)
    {%- endset -%}
    {{ return(empty_sql) }}
{%- endmacro %}

{% macro spark__lake_source(source_name, table_name) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if not execute or (relation | string).startswith('__dbt__cte__') -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set folder = lake_source_glob(source_name, table_name)
        .split('/event_date=')[0] -%}
    {#- The files a reader reads: committed, not superseded (lake_files). -#}
    {%- set source_sql -%}
        (select *, _metadata.file_path as _source_file
        from parquet.`{{ folder }}`
        where _metadata.file_path in (
            select file_path
            from {{ spark__lake_files(source_name, table_name) }} as readable
        ))
    {%- endset -%}
    {{ return(source_sql) }}
{%- endmacro %}
