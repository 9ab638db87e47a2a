-- For the dates the latest fct_events build wrote, each day's hours add up
-- to the day: events and revenue per date, country, product family, event
-- type and currency of agg_events_hourly equal agg_events_daily's, no group
-- missing on either side (distinct counts do not add up and are not
-- compared). Returns the groups that differ.
{%- set dates = latest_build_partitions('fct_events') %}

with

hourly as (

    select
        event_date,
        country_code,
        product_family,
        event_type,
        currency_code,
        sum(events) as events,
        sum(revenue) as revenue
    from {{ ref('agg_events_hourly') }}
    where {{ partition_filter('event_date', dates) }}
    group by 1, 2, 3, 4, 5

),

daily as (

    select
        event_date,
        country_code,
        product_family,
        event_type,
        currency_code,
        events,
        revenue
    from {{ ref('agg_events_daily') }}
    where {{ partition_filter('event_date', dates) }}

)

select
    coalesce(daily.event_date, hourly.event_date) as event_date,
    coalesce(daily.country_code, hourly.country_code) as country_code,
    coalesce(daily.product_family, hourly.product_family) as product_family,
    coalesce(daily.event_type, hourly.event_type) as event_type,
    coalesce(daily.currency_code, hourly.currency_code) as currency_code,
    hourly.events as hourly_events,
    daily.events as daily_events,
    hourly.revenue as hourly_revenue,
    daily.revenue as daily_revenue
from daily
full outer join hourly
    on
        daily.event_date = hourly.event_date
        and daily.country_code = hourly.country_code
        and daily.product_family = hourly.product_family
        and daily.event_type = hourly.event_type
        and daily.currency_code = hourly.currency_code
where
    daily.events is distinct from hourly.events
    or daily.revenue is distinct from hourly.revenue
