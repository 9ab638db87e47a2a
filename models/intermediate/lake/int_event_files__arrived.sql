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

{% if is_incremental() %}

known_files as (

    select file_path from {{ this }}

),

watermark as (

    select max(event_date) as merged_through
    from {{ this }}
    where not is_late

),

{% endif %}

new_files as (

    select
        files.file_path,
        files.event_date,
        {%- if is_incremental() %}
            coalesce(
                files.event_date < {{ dbt.dateadd(
                    'day', -var('late_window_days'), 'watermark.merged_through'
                ) }},
                false
            ) as is_late
        {%- else %}
            false as is_late
        {%- endif %}
    from files
    {%- if is_incremental() %}
        cross join watermark
        left join known_files
            on files.file_path = known_files.file_path
        where known_files.file_path is null
    {%- endif %}

),

arrived as (

    select
        file_path,
        event_date,
        is_late,
        cast('{{ invocation_id }}' as varchar) as invocation_id,
        {{ dbt.current_timestamp() }} as arrived_at
    from new_files

)

select * from arrived
