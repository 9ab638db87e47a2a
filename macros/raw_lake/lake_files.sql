{% macro lake_files(source_name, table_name) -%}
    {{ return(adapter.dispatch('lake_files')(source_name, table_name)) }}
{%- endmacro %}

{% macro default__lake_files(source_name, table_name) -%}
    (select distinct
        input_file_name() as file_path,
        event_date
    from {{ source(source_name, table_name) }})
{%- endmacro %}

{% macro duckdb__lake_files(source_name, table_name) -%}
    {%- if not execute -%}
        {{ return(default__lake_files(source_name, table_name)) }}
    {%- endif -%}
    {%- set files_glob = lake_source_glob(source_name, table_name) -%}
    (select
        file as file_path,
        cast(
            regexp_extract(file, 'event_date=([0-9]{4}-[0-9]{2}-[0-9]{2})', 1)
            as date
        ) as event_date
    from glob({{ dbt.string_literal(files_glob) }}))
{%- endmacro %}

{% macro spark__lake_files(source_name, table_name) -%}
    (select distinct
        _source_file as file_path,
        event_date
    from {{ lake_source(source_name, table_name) }} as lake)
{%- endmacro %}
