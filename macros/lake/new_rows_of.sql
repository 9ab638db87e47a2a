{#-
    The rows of a model (which the caller thereby refs) that the calling
    incremental model has not consumed yet: on DuckLake, the rows inserted
    since its watermark and still there (ducklake_table_insertions less
    ducklake_table_deletions, by row id), so the cost follows
    what changed; everything on a full build. Elsewhere, the model read
    through lake_table (Spark narrows it to the partition it writes). Pair it
    with the post-hook record_consumed_partitions(model_name).
-#}
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
