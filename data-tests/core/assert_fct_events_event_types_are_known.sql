{{ config(severity='warn') }}
-- Event types of the latest fct_events build missing from the event_types
-- seed: new types are expected as the app evolves, so this warns.
{%- set dates = latest_build_partitions('fct_events') %}

with

events as (

    select distinct event_type
    from {{ lake_table('fct_events', dates) }} as fct_events

),

known as (

    select event_type from {{ ref('event_types') }}

)

select events.event_type
from events
left join known
    on events.event_type = known.event_type
where known.event_type is null
