-- For the dates the latest fct_events build wrote, agg_funnel_daily holds
-- per date, product family and country the distinct users of the facts at
-- each funnel step (event_types.funnel_step), no group missing or extra,
-- and rates that are the quotients of those counts, null exactly where the
-- denominator is 0. Not asserted: purchasers <= carters, which does not
-- hold (a cart before midnight and its purchase after it fall on two
-- dates; src/eventlake/simulate/sessions.py buys up to 15 minutes after
-- the cart).
-- Returns the groups that differ.
{%- set dates = latest_build_partitions('fct_events') %}

with

events as (

    select
        event_date,
        user_id,
        event_type,
        country_code,
        product_family
    from {{ lake_table('fct_events', dates) }} as fct_events

),

event_types as (

    select
        event_type,
        funnel_step
    from {{ ref('event_types') }}
    where funnel_step is not null

),

facts as (

    select
        events.event_date,
        coalesce(events.product_family, 'unknown') as product_family,
        coalesce(events.country_code, 'unknown') as country_code,
        count(distinct case
            when event_types.funnel_step = 1 then events.user_id
        end) as viewers,
        count(distinct case
            when event_types.funnel_step = 2 then events.user_id
        end) as carters,
        count(distinct case
            when event_types.funnel_step = 3 then events.user_id
        end) as purchasers
    from events
    inner join event_types
        on events.event_type = event_types.event_type
    group by 1, 2, 3

),

funnel as (

    select
        event_date,
        product_family,
        country_code,
        viewers,
        carters,
        purchasers,
        view_to_cart_rate,
        cart_to_purchase_rate,
        view_to_purchase_rate
    from {{ ref('agg_funnel_daily') }}
    where {{ partition_filter('event_date', dates) }}

),

compared as (

    select
        coalesce(facts.event_date, funnel.event_date) as event_date,
        coalesce(facts.product_family, funnel.product_family)
            as product_family,
        coalesce(facts.country_code, funnel.country_code) as country_code,
        facts.viewers as fact_viewers,
        funnel.viewers,
        facts.carters as fact_carters,
        funnel.carters,
        facts.purchasers as fact_purchasers,
        funnel.purchasers,
        funnel.view_to_cart_rate,
        funnel.cart_to_purchase_rate,
        funnel.view_to_purchase_rate
    from facts
    full outer join funnel
        on
            facts.event_date = funnel.event_date
            and facts.product_family = funnel.product_family
            and facts.country_code = funnel.country_code

)

select * from compared
where
    fact_viewers is distinct from viewers
    or fact_carters is distinct from carters
    or fact_purchasers is distinct from purchasers
    -- rates: null exactly without a denominator, else the quotient (stored
    -- as float: compared to 1e-6)
    or (viewers = 0) != (view_to_cart_rate is null)
    or (carters = 0) != (cart_to_purchase_rate is null)
    or (viewers = 0) != (view_to_purchase_rate is null)
    or abs(view_to_cart_rate * viewers - carters) > 1e-6 * viewers
    or abs(cart_to_purchase_rate * carters - purchasers) > 1e-6 * carters
    or abs(view_to_purchase_rate * viewers - purchasers) > 1e-6 * viewers
