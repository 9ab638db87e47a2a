-- For the dates the latest fct_events build wrote, agg_events_daily holds
-- exactly the facts: per date, country, product family, event type and
-- currency the same events, distinct users, distinct sessions and revenue,
-- no group missing and none extra. This is what an incremental run must
-- get right (a date rebuilt, not added twice, not left stale). Reads those
-- partitions only, not the history. Returns the groups that differ.
{%- set dates = latest_build_partitions('fct_events') %}

with

facts as (

    select
        event_date,
        coalesce(country_code, 'unknown') as country_code,
        coalesce(product_family, 'unknown') as product_family,
        event_type,
        coalesce(currency_code, 'unknown') as currency_code,
        count(*) as events,
        count(distinct user_id) as distinct_users,
        count(distinct session_id) as distinct_sessions,
        coalesce(
            sum(case when event_type = 'purchase' then price end), 0
        ) as revenue
    from {{ lake_table('fct_events', dates) }} as fct_events
    group by 1, 2, 3, 4, 5

),

rollup as (

    select
        event_date,
        country_code,
        product_family,
        event_type,
        currency_code,
        events,
        distinct_users,
        distinct_sessions,
        revenue
    from {{ ref('agg_events_daily') }}
    where {{ partition_filter('event_date', dates) }}

)

select
    coalesce(facts.event_date, rollup.event_date) as event_date,
    coalesce(facts.country_code, rollup.country_code) as country_code,
    coalesce(facts.product_family, rollup.product_family) as product_family,
    coalesce(facts.event_type, rollup.event_type) as event_type,
    coalesce(facts.currency_code, rollup.currency_code) as currency_code,
    facts.events as fact_events,
    rollup.events as rollup_events,
    facts.distinct_users as fact_distinct_users,
    rollup.distinct_users as rollup_distinct_users,
    facts.revenue as fact_revenue,
    rollup.revenue as rollup_revenue
from facts
full outer join rollup
    on
        facts.event_date = rollup.event_date
        and facts.country_code = rollup.country_code
        and facts.product_family = rollup.product_family
        and facts.event_type = rollup.event_type
        and facts.currency_code = rollup.currency_code
where
    facts.events is distinct from rollup.events
    or facts.distinct_users is distinct from rollup.distinct_users
    or facts.distinct_sessions is distinct from rollup.distinct_sessions
    or facts.revenue is distinct from rollup.revenue
