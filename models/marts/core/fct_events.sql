{#-
    The facts, one row per event, in the DuckLake lakehouse, partitioned by
    event_date and sorted for the BI filters. Each build appends the events
    of the raw files that arrived since the last build (and were not late):
    its cost follows what arrived, not the size of the day. A producer retry
    repeats its event_time, so a new event already here from an earlier
    build is found among the events of the same event-time hours, a
    bounded, exact check (existing_events). One build's append and the
    watermark of the files it merged (post-hook) are one DuckLake commit: a
    reader sees the day before it or after it, and a build killed midway
    leaves its files to the next.

    On Spark, the lake_partitions materialization rewrites the dates whose
    raw files arrived, at lake/curated/fct_events/.
-#}
{{ config(
    materialized=(
        'lake_partitions' if target.type == 'spark' else 'incremental'),
    incremental_strategy='append',
    partition_by='event_date',
    partitions_changed_in={
        'model': 'int_event_files__arrived',
        'changed_at': 'arrived_at',
        'where': 'not is_late',
    },
    sort_by=['country_code', 'product_family', 'event_type', 'event_at'],
    on_schema_change='append_new_columns',
    meta={
        'retention': {'date_column': 'event_date', 'keep': 'lake'},
        'require_partition_filter': 'event_date',
        'read_window_days': 0,
    },
    post_hook=(
        [] if target.type == 'spark'
        else ["{{ record_consumed_partitions('int_event_files__arrived') }}"]),
) }}
-- depends_on: {{ ref('int_event_files__arrived') }}

{%- set merged_hours = none -%}
{%- if is_incremental() and target.type != 'spark' -%}
    {%- set merged_hours = event_hours_to_merge() -%}
{%- endif %}

with

events as (

    select * from {{ ref('stg_kafka__events') }}

),

existing_events as (

    {%- if merged_hours is none %}

        select cast(null as {{ dbt.type_string() }}) as event_id
        where false

    {%- else %}

        select event_id
        from {{ this }}
        where
            {{ partition_filter('event_date', merged_hours.dates) }}
            and event_at >= {{ merged_hours.first }}
            and event_at < {{ merged_hours.last }}

    {%- endif %}

),

new_events as (

    select events.*
    from events
    left join existing_events
        on events.event_id = existing_events.event_id
    where existing_events.event_id is null

)

select * from new_events
order by {{ config.get('sort_by') | join(', ') }}
