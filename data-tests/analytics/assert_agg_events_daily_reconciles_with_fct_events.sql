-- The daily rollup counts every fact of the dates the latest fct_events build
-- wrote, once, per country, product family and event type (the test reads
-- those partitions only, not the history). Returns the groups that differ.
{%- set dates = latest_build_partitions('fct_events') %}

with

facts as (

    select
        event_date,
        coalesce(country_code, 'unknown') as country_code,
        coalesce(product_family, 'unknown') as product_family,
        event_type,
        count(*) as events
    from {{ lake_table('fct_events', dates) }} as fct_events
    group by 1, 2, 3, 4

),

rollup as (

    select
        event_date,
        country_code,
        product_family,
        event_type,
        sum(events) as events
    from {{ ref('agg_events_daily') }}
    where {{ partition_filter('event_date', dates) }}
    group by 1, 2, 3, 4

)

select
    coalesce(facts.event_date, rollup.event_date) as event_date,
    coalesce(facts.country_code, rollup.country_code) as country_code,
    coalesce(facts.product_family, rollup.product_family) as product_family,
    coalesce(facts.event_type, rollup.event_type) as event_type,
    facts.events as fact_events,
    rollup.events as rollup_events
from facts
full outer join rollup
    on
        facts.event_date = rollup.event_date
        and facts.country_code = rollup.country_code
        and facts.product_family = rollup.product_family
        and facts.event_type = rollup.event_type
where facts.events is distinct from rollup.events
