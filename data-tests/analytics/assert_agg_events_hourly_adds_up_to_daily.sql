-- Each day's hours add up to the day: events and revenue per date, country,
-- product family, event type and currency. Returns the groups that differ.

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

)

select
    daily.event_date,
    daily.country_code,
    daily.product_family,
    daily.event_type,
    hourly.events as hourly_events,
    daily.events as daily_events
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
