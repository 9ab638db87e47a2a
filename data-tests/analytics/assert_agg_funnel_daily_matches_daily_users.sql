-- The funnel's viewers and purchasers per date, family and country are the
-- distinct users the daily rollup counted for views and purchases (each
-- country has one currency, so the daily row is the whole group).

with

daily as (

    select
        event_date,
        product_family,
        country_code,
        sum(case when event_type = 'view' then distinct_users else 0 end)
            as viewers,
        sum(case when event_type = 'purchase' then distinct_users else 0 end)
            as purchasers
    from {{ ref('agg_events_daily') }}
    group by 1, 2, 3

),

funnel as (

    select
        event_date,
        product_family,
        country_code,
        viewers,
        purchasers
    from {{ ref('agg_funnel_daily') }}

)

select
    daily.event_date,
    daily.product_family,
    daily.country_code
from daily
left join funnel
    on
        daily.event_date = funnel.event_date
        and daily.product_family = funnel.product_family
        and daily.country_code = funnel.country_code
where
    coalesce(funnel.viewers, 0) != daily.viewers
    or coalesce(funnel.purchasers, 0) != daily.purchasers
