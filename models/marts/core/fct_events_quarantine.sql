{#-
    Events that arrived too late to merge: their date was more than
    var late_window_days before the newest date already merged when their
    file arrived (see int_event_files__arrived). They stay in the raw lake
    and are kept here, counted, for a decision (a backfill with
    `dbt build --full-refresh` merges them). The late files are read
    directly (not through staging, which spans the whole raw lake); an event
    already in fct_events (a raw file rewritten by compaction) or of an
    erased subject is not quarantined. Spark's Parquet tables have no
    DELETE: there the rows are appended (an event quarantined again by a
    later build is not replaced).
-#}
{{ config(
    materialized='incremental',
    incremental_strategy=(
        'append' if target.type == 'spark' else 'delete+insert'),
    unique_key='event_id',
    on_schema_change='append_new_columns',
    meta={'retention': {'date_column': 'event_date', 'keep': 'lake'}},
    post_hook=(
        [] if target.type == 'spark'
        else ["{{ record_consumed_partitions('int_event_files__arrived') }}"]),
) }}
-- depends_on: {{ ref('stg_kafka__events') }}

{#- Late files not quarantined yet (all of them on a full build): on DuckDB
    those that arrived after this model's watermark, moved by its post-hook
    in the same commit as the rows; on Spark those of this invocation. -#}
{%- if not is_incremental() -%}
    {%- set late_files_filter = "is_late" -%}
{%- elif target.type == 'spark' -%}
    {%- set late_files_filter = "is_late and invocation_id = '"
        ~ invocation_id ~ "'" -%}
{%- else -%}
    {%- set late_files_filter = "is_late and arrived_at > coalesce((select"
        ~ " max(consumed_through) from control.model_watermarks where"
        ~ " model_name = '" ~ watermark_name(this.identifier)
        ~ "' and upstream_name ="
        ~ " 'int_event_files__arrived'), cast('-infinity' as timestamp with"
        ~ " time zone))" -%}
{%- endif -%}
{%- set late_files = [] -%}
{%- if execute
    and load_relation(ref('int_event_files__arrived')) is not none -%}
    {%- set late_files = run_query(
        'select file_path, cast(event_date as ' ~ dbt.type_string()
        ~ ') from '
        ~ ref('int_event_files__arrived') ~ ' where ' ~ late_files_filter
        ~ ' order by 1'
    ).rows -%}
{%- endif %}
{%- set late_dates = late_files | map(attribute=1) | unique | list %}

with

late_events as (

    {%- if late_files | length > 0 %}
        select * from {{
            lake_read_files(late_files | map(attribute=0) | list)
        }}
    {%- else %}
        select
            cast(null as {{ dbt.type_string() }}) as event_id,
            cast(null as {{ dbt.type_string() }}) as user_id,
            cast(null as {{ dbt.type_string() }}) as event_type,
            cast(null as {{ dbt.type_string() }}) as country,
            cast(null as date) as event_date,
            cast(null as {{ type_instant() }}) as event_time,
            cast(null as {{ type_instant() }}) as _ingested_at,
            cast(null as {{ dbt.type_string() }}) as source_file
        where false
    {%- endif %}

),

arrivals as (

    select
        file_path,
        arrived_at
    from {{ ref('int_event_files__arrived') }}
    where {{ late_files_filter }}

),

merged as (

    select event_id from {{ lake_table('fct_events', late_dates) }}

),

erasure_suppressions as (

    select subject_hash from {{ source('control', 'erasure_suppressions') }}

),

quarantined as (

    select
        late_events.event_id,
        late_events.user_id,
        late_events.event_type,
        late_events.country as country_code,
        late_events.source_file,
        cast(late_events.event_date as date) as event_date,
        late_events.event_time as event_at,
        late_events._ingested_at as ingested_at,
        arrivals.arrived_at,
        {{ dbt.datediff(
            'cast(late_events.event_date as date)', 'arrivals.arrived_at', 'day'
        ) }} as days_late,
        row_number() over (
            partition by late_events.event_id
            order by late_events._ingested_at
        ) as copy_number
    from late_events
    inner join arrivals
        on late_events.source_file = arrivals.file_path
    left join merged
        on late_events.event_id = merged.event_id
    left join erasure_suppressions
        on
            {{ subject_hash('late_events.user_id') }}
            = erasure_suppressions.subject_hash
    where
        merged.event_id is null
        and erasure_suppressions.subject_hash is null

)

select
    event_id,
    user_id,
    event_type,
    country_code,
    source_file,
    event_date,
    event_at,
    ingested_at,
    arrived_at,
    days_late
from quarantined
where copy_number = 1
