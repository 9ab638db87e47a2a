{#-
    source() for a table of the Parquet lake that may hold no file yet.

    DuckDB's read_parquet() fails when its glob matches nothing, so on DuckDB
    the source's `files_glob` meta is checked first; while it matches no file,
    an empty relation typed from the source's column `data_type`s stands in,
    and the build goes on with no rows. On Spark the source's folder is read
    as a Hive-partitioned Parquet table (event_date from the folder names,
    columns merged by name), with the file of each row as _source_file.
    Everywhere else (and in unit tests, where source() returns the fixture)
    this is plain source().
-#}
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
    {%- set files_glob = lake_source_glob(source_name, table_name) -%}

    {%- set found = run_query(
        'select count(*) from glob(' ~ dbt.string_literal(files_glob) ~ ')'
    ).columns[0].values()[0] -%}
    {%- if found > 0 -%}
        {{ return(relation) }}
    {%- endif -%}

    {%- set columns = node.columns.values() | list -%}
    {%- set untyped = columns | rejectattr('data_type') | map(attribute='name')
        | list -%}
    {%- if not columns or untyped -%}
        {{ exceptions.raise_compiler_error(
            "lake_source: to stand in for the empty lake, every column of '"
            ~ source_name ~ "." ~ table_name ~ "' needs a data_type; missing: "
            ~ (untyped | join(', ') if columns else 'no columns declared')
        ) }}
    {%- endif -%}
    {{ log(
        "lake_source: no file matches " ~ files_glob ~ "; "
        ~ source_name ~ "." ~ table_name ~ " reads as empty",
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
    {%- set source_sql -%}
        (select *, _metadata.file_path as _source_file
        from parquet.`{{ folder }}`)
    {%- endset -%}
    {{ return(source_sql) }}
{%- endmacro %}
