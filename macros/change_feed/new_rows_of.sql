{% macro new_rows_of(model_name) -%}
    {{ return(adapter.dispatch('new_rows_of')(model_name)) }}
{%- endmacro %}

{% macro default__new_rows_of(model_name) -%}
    {{ return(lake_table(model_name)) }}
{%- endmacro %}

{% macro duckdb__new_rows_of(model_name) -%}
    {%- set upstream = ref(model_name) -%}
    {%- if not execute or not is_incremental()
        or (upstream | string).startswith('__dbt__cte__') -%}
        {{ return(lake_table(model_name)) }}
    {%- endif -%}
    {%- set since = run_query(
        "select cast(max(consumed_through) as varchar)"
        ~ " from control.model_watermarks where model_name = '"
        ~ watermark_name(this.identifier) ~ "' and upstream_name = '" ~ model_name
        ~ "'").columns[0].values()[0] -%}
    {%- if since is none -%}
        {{ return(lake_table(model_name)) }}
    {%- endif -%}
    {#- A row deleted after its insertion (an erased subject, a repair after
        a failed audit) is not brought back: DuckLake keeps row ids. -#}
    {%- set inserted -%}
        (select inserted.*
        from ducklake_table_insertions(
            '{{ upstream.database }}', '{{ upstream.schema }}',
            '{{ upstream.identifier }}',
            cast('{{ since }}' as timestamp with time zone),
            now()
        ) as inserted
        anti join ducklake_table_deletions(
            '{{ upstream.database }}', '{{ upstream.schema }}',
            '{{ upstream.identifier }}',
            cast('{{ since }}' as timestamp with time zone),
            now()
        ) as deleted
            on inserted.rowid = deleted.rowid)
    {%- endset -%}
    {{ return(inserted) }}
{%- endmacro %}
