-- Every event of the partitions the latest fct_events build wrote sits in
-- the folder of its UTC date (event_date = the date of event_at), which the
-- date-partitioned rebuilds and every date filter downstream rely on. Reads
-- those partitions only, not the history. Returns the misfiled events.
{%- set dates = latest_build_partitions('fct_events') %}

with

events as (

    select
        event_id,
        event_date,
        event_at
    from {{ lake_table('fct_events', dates) }} as fct_events

)

select
    event_id,
    event_date,
    event_at
from events
where cast(event_at as date) != event_date
