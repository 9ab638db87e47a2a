{% macro index_catalog_statistics() -%}
    {{ return(adapter.dispatch('index_catalog_statistics')()) }}
{%- endmacro %}

{% macro default__index_catalog_statistics() -%}
    select 1
{%- endmacro %}

{% macro duckdb__index_catalog_statistics() -%}
    {%- if env_var('EVENTLAKE_CATALOG', 'sqlite:').startswith('postgres:') -%}
        call postgres_execute(
            '__ducklake_metadata_{{ target.database }}',
            'create index if not exists eventlake_file_column_stats_table_column
                on ducklake_file_column_stats (table_id, column_id)'
        )
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
