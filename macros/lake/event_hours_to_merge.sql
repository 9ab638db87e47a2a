{#-
    The event-time span of the raw files a build merges (lake_files_to_merge),
    whole hours, as literals: {'dates': ['YYYY-MM-DD', ...], 'first': the
    first hour, 'last': the end of the last hour}. fct_events looks for
    producer-retry copies among its existing events in that span only (a
    retry repeats its event_time). Reads the event_time column of the new
    files only.
-#}
{% macro event_hours_to_merge() -%}
    {%- set files = lake_files_to_merge() -%}
    {%- set none_found = {
        'dates': [],
        'first': as_of_literal(none),
        'last': as_of_literal(none)} -%}
    {%- if not execute or not files -%}
        {{ return(none_found) }}
    {%- endif -%}
    {%- set query -%}
        select
            cast(date_trunc('hour', min(event_time)) as varchar),
            cast(
                date_trunc('hour', max(event_time)) + interval 1 hour
                as varchar
            ),
            string_agg(distinct cast(event_date as varchar), ',')
        from read_parquet(
            [
            {%- for path in files -%}
                {{ dbt.string_literal(path) }}{{ ", " if not loop.last }}
            {%- endfor -%}
            ],
            hive_partitioning = true,
            union_by_name = true
        )
    {%- endset -%}
    {%- set row = run_query(query).rows[0] -%}
    {%- if row[0] is none -%}
        {{ return(none_found) }}
    {%- endif -%}
    {{ return({
        'dates': row[2].split(',') | sort,
        'first': "cast('" ~ row[0] ~ "' as timestamp with time zone)",
        'last': "cast('" ~ row[1] ~ "' as timestamp with time zone)"}) }}
{%- endmacro %}
