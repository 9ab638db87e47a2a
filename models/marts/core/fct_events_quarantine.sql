{#-
    Events that arrived too late to merge: their date was more than
    var late_window_days before the newest date already merged when their
    file arrived (see int_event_files__arrived). They stay in the raw lake
    and are kept here, counted, for a decision (a backfill with
    `dbt build --full-refresh` merges them). An event already in fct_events
    (a raw file rewritten by compaction) is not quarantined again.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='event_id',
    on_schema_change='append_new_columns',
) }}

{#- Late files of this build (all of them on a full build). -#}
{%- set late_files_filter = "is_late and invocation_id = '" ~ invocation_id
    ~ "'" if is_incremental() else "is_late" -%}
{%- set late_dates = [] -%}
{%- if execute
    and load_relation(ref('int_event_files__arrived')) is not none -%}
    {%- set late_dates = run_query(
        'select distinct cast(event_date as varchar) from '
        ~ ref('int_event_files__arrived') ~ ' where ' ~ late_files_filter
    ).columns[0].values() | list -%}
{%- endif %}

with

events as (

    select * from {{ ref('stg_kafka__events') }}
    where {{ partition_filter('event_date', late_dates) }}

),

late_files as (

    select
        file_path,
        arrived_at
    from {{ ref('int_event_files__arrived') }}
    where {{ late_files_filter }}

),

merged as (

    select
        event_id,
        event_date
    from {{ ref('fct_events') }}
    where {{ partition_filter('event_date', late_dates) }}

),

quarantined as (

    select
        events.event_id,
        events.user_id,
        events.event_type,
        events.country_code,
        events.source_file,
        events.event_date,
        events.event_at,
        events.ingested_at,
        late_files.arrived_at,
        {{ dbt.datediff('events.event_date', 'late_files.arrived_at', 'day') }}
            as days_late
    from events
    inner join late_files
        on events.source_file = late_files.file_path
    left join merged
        on
            events.event_id = merged.event_id
            and events.event_date = merged.event_date
    where merged.event_id is null

)

select * from quarantined
