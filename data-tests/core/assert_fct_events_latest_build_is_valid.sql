-- The grain and the required columns of the partitions the latest
-- fct_events build wrote (not the history: the table is the whole lake).
-- Returns one row per problem.
{%- set dates = latest_build_partitions('fct_events') %}

with

events as (

    select
        event_id,
        user_id,
        event_type,
        event_date,
        event_at
    from {{ lake_table('fct_events', dates) }} as fct_events

),

repeated as (

    select
        event_id,
        'event_id occurs ' || cast(count(*) as varchar) || ' times' as problem
    from events
    group by 1
    having count(*) > 1

),

incomplete as (

    select
        event_id,
        'a required column is null' as problem
    from events
    where
        event_id is null
        or user_id is null
        or event_type is null
        or event_at is null

),

misfiled as (

    select
        event_id,
        'event_at is not on its partition date' as problem
    from events
    where cast(event_at as date) != event_date

)

select * from repeated
union all
select * from incomplete
union all
select * from misfiled
