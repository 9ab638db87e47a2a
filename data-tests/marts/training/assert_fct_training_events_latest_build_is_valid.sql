{#-
    fct_training_events, over the partitions its latest build wrote
    (latest_build_partitions, read with lake_table: not the history): event_id is a key, user_key is a 64-character keyed hash (no
    raw id leaks), and event_date is the UTC date of event_at. One row per
    failure.
-#}
{%- set written = latest_build_partitions('fct_training_events') %}

with

fct_training_events as (

    select
        event_id,
        user_key,
        event_date,
        event_at
    from {{ lake_table('fct_training_events', written) }} as fct_training_events

),

duplicate_events as (

    select
        event_id,
        'duplicate event_id' as failure
    from fct_training_events
    group by 1
    having count(*) > 1

),

invalid_rows as (

    select
        case
            when event_id is null then 'null event_id'
            when
                user_key is null
                or length(user_key) != 64
                then 'user_key is not a keyed hash'
            when event_date != cast(event_at as date)
                then 'event_date is not the date of event_at'
        end as failure,
        event_id
    from fct_training_events

),

failures as (

    select
        failure,
        event_id
    from duplicate_events

    union all

    select
        failure,
        event_id
    from invalid_rows
    where failure is not null

)

select * from failures
