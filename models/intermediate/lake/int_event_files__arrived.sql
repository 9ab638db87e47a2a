{#-
    The manifest of processed arrivals: which raw files each build found new,
    and whether their date was still open. fct_events rewrites the partitions
    of files that are not late; fct_events_quarantine takes the late ones.

    A date is open while it is no more than var late_window_days before the
    newest date merged by earlier builds (the watermark). The first build
    merges everything (a backfill).
-#}
{{ config(
    materialized='incremental',
    unique_key='file_path',
    incremental_strategy='append',
    on_schema_change='fail',
    meta={'retention': {'date_column': 'event_date', 'keep': 'lake'}},
) }}

with

files as (

    select * from {{ ref('stg_kafka__event_files') }}

),

{#- What earlier builds recorded: nothing on the first (or a full) build. -#}
{%- set recorded = this if is_incremental() else
    "(select cast(null as " ~ dbt.type_string() ~ ") as file_path,"
    ~ " cast(null as date)"
    ~ " as event_date, false as is_late where false)" %}

known_files as (

    select file_path from {{ recorded }}

),

watermark as (

    select max(event_date) as merged_through
    from {{ recorded }}
    where not is_late

),

new_files as (

    select
        files.file_path,
        files.event_date,
        coalesce(
            files.event_date < {{ dbt.dateadd(
                'day', -var('late_window_days'), 'watermark.merged_through'
            ) }},
            false
        ) as is_late
    from files
    cross join watermark
    left join known_files
        on files.file_path = known_files.file_path
    where known_files.file_path is null

),

arrived as (

    select
        file_path,
        event_date,
        is_late,
        cast('{{ invocation_id }}' as {{ dbt.type_string() }}) as invocation_id,
        {{ dbt.current_timestamp() }} as arrived_at
    from new_files

)

select * from arrived
