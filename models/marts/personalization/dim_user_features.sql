{#-
    Batch features of the personalization online store, one row per user
    active in the 30 days up to as_of (var features_as_of, else the newest
    event_at in fct_events). Windows are rolling: N days means
    as_of - N days < event_at <= as_of. as_of and the window's dates are
    literals computed once at run time (as_of_window), so only the date
    partitions the 30 days touch are read, however long the history.
-#}
{{ config(materialized='table') }}

{%- set window = as_of_window('fct_events', 30 * 86400) -%}
{%- set as_of = window.as_of %}

-- depends_on: {{ ref('fct_events') }}

with

fct_events as (

    select
        user_id,
        event_type,
        product_family,
        currency_code,
        price,
        event_at
    from {{ lake_table('fct_events', window.dates) }} as fct_events
    where
        event_at > {{ dbt.dateadd('day', -30, as_of) }}
        and event_at <= {{ as_of }}

),

flagged as (

    select
        user_id,
        event_type,
        product_family,
        currency_code,
        price,
        event_at,
        event_at > {{ dbt.dateadd('day', -1, as_of) }} as is_in_1d,
        event_at > {{ dbt.dateadd('day', -7, as_of) }} as is_in_7d
    from fct_events

),

activity as (

    select
        user_id,
        count(
            distinct case when event_type = 'purchase' then currency_code end
        ) as purchase_currencies,
        min(
            case when event_type = 'purchase' then currency_code end
        ) as purchase_currency_code,
        count(case when is_in_1d then 1 end) as events_1d,
        count(case when is_in_1d and event_type = 'view' then 1 end)
            as views_1d,
        count(case when is_in_1d and event_type = 'cart' then 1 end)
            as carts_1d,
        count(
            case when is_in_1d and event_type = 'remove_from_cart' then 1 end
        ) as cart_removals_1d,
        count(case when is_in_1d and event_type = 'purchase' then 1 end)
            as purchases_1d,
        count(case when is_in_7d then 1 end) as events_7d,
        count(case when is_in_7d and event_type = 'view' then 1 end)
            as views_7d,
        count(case when is_in_7d and event_type = 'cart' then 1 end)
            as carts_7d,
        count(
            case when is_in_7d and event_type = 'remove_from_cart' then 1 end
        ) as cart_removals_7d,
        count(case when is_in_7d and event_type = 'purchase' then 1 end)
            as purchases_7d,
        count(*) as events_30d,
        count(case when event_type = 'view' then 1 end) as views_30d,
        count(case when event_type = 'cart' then 1 end) as carts_30d,
        count(case when event_type = 'remove_from_cart' then 1 end)
            as cart_removals_30d,
        count(case when event_type = 'purchase' then 1 end) as purchases_30d,
        sum(case when event_type = 'purchase' then price end) as revenue,
        max(case when event_type = 'purchase' then event_at end)
            as last_purchase_at,
        max(event_at) as last_event_at
    from flagged
    group by 1

),

family_activity as (

    select
        user_id,
        product_family,
        count(*) as events
    from fct_events
    where product_family is not null
    group by 1, 2

),

family_ranks as (

    select
        user_id,
        product_family,
        row_number() over (
            partition by user_id
            order by events desc, product_family asc
        ) as family_rank
    from family_activity

),

top_families as (

    select
        user_id,
        max(case when family_rank = 1 then product_family end)
            as top_product_family,
        {{ dbt.listagg('product_family', "','", 'order by family_rank') }}
            as top_product_families
    from family_ranks
    where family_rank <= 3
    group by 1

),

final as (

    select
        -- ids
        activity.user_id,

        -- strings
        top_families.top_product_family,
        top_families.top_product_families,
        case
            when activity.purchase_currencies = 1
                then activity.purchase_currency_code
        end as revenue_currency_code,

        -- numerics
        activity.events_1d,
        activity.views_1d,
        activity.carts_1d,
        activity.cart_removals_1d,
        activity.purchases_1d,
        activity.events_7d,
        activity.views_7d,
        activity.carts_7d,
        activity.cart_removals_7d,
        activity.purchases_7d,
        activity.events_30d,
        activity.views_30d,
        activity.carts_30d,
        activity.cart_removals_30d,
        activity.purchases_30d,
        cast(
            case
                when activity.purchase_currencies = 0 then 0
                when activity.purchase_currencies = 1 then activity.revenue
            end as decimal(18, 2)
        ) as revenue_30d,
        cast(
            floor(
                {{ dbt.datediff('activity.last_event_at', as_of, 'second') }}
                / 86400
            ) as integer
        ) as days_since_last_event,

        -- timestamps
        activity.last_purchase_at,
        activity.last_event_at,
        {{ as_of }} as features_as_of
    from activity
    left join top_families
        on activity.user_id = top_families.user_id

)

select * from final
