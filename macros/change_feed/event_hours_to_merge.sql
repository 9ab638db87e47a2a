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
