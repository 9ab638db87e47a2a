{#-
    Rebuilt by date like agg_events_daily. The steps come from the
    event_types seed (funnel_step 1 view, 2 cart, 3 purchase), so a new event
    type joins the funnel by a seed row, not a code change. A user counts at
    each step they reached that day, whatever the order: a cart before
    midnight and its purchase after it count on two dates, so purchasers may
    exceed carters and the rates may exceed 1.
-#}
{{ config(
    pre_hook="{{ delete_changed_partitions('fct_events') }}",
    post_hook="{{ record_consumed_partitions('fct_events') }}",
) }}

{%- set changed = changed_partitions('fct_events') %}

with

events as (

    select
        event_date,
        user_id,
        event_type,
        country_code,
        product_family
    from {{ lake_table('fct_events', changed) }} as fct_events

),

event_types as (

    select
        event_type,
        funnel_step
    from {{ ref('event_types') }}
    where funnel_step is not null

),

steps as (

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

rates as (

    select
        event_date,
        product_family,
        country_code,
        viewers,
        carters,
        purchasers,
        cast(carters as {{ dbt.type_float() }}) / nullif(viewers, 0)
            as view_to_cart_rate,
        cast(purchasers as {{ dbt.type_float() }}) / nullif(carters, 0)
            as cart_to_purchase_rate,
        cast(purchasers as {{ dbt.type_float() }}) / nullif(viewers, 0)
            as view_to_purchase_rate
    from steps

)

select * from rates
