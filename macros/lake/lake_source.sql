{#-
    source() for a table of the Parquet lake that may hold no file yet.

    On DuckDB the build reads only the raw files it merges
    (lake_files_to_merge): those that arrived since the last build, so its
    cost follows what arrived, not the history. With none, an empty relation
    typed from the source's column `data_type`s stands in. On Spark the source's folder is read
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

{#-
    The raw files a DuckDB build merges into fct_events, from the manifest
    int_event_files__arrived: those not late that arrived after fct_events'
    watermark (which its post-hook moves in the same commit as the rows, so
    a build killed midway leaves its files to the next), or, when
    fct_events is fully refreshed (a backfill), every file recorded.
-#}
{% macro lake_files_to_merge(model_name='fct_events') -%}
    {%- set arrivals = ref('int_event_files__arrived') -%}
    {%- if load_relation(arrivals) is none -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set query -%}
        select file_path
        from {{ arrivals }}
        {%- if not flags.FULL_REFRESH %}
        where
            not is_late
            and arrived_at > coalesce(
                (
                    select max(consumed_through)
                    from control.model_watermarks
                    where
                        model_name = '{{ watermark_name(model_name) }}'
                        and upstream_name = 'int_event_files__arrived'
                ),
                cast('-infinity' as timestamp with time zone)
            )
        {%- endif %}
        order by 1
    {%- endset -%}
    {{ return(run_query(query).columns[0].values() | list) }}
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
