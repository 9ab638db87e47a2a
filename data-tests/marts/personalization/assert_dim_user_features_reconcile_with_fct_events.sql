{#-
    dim_user_features against fct_events over the same 30 days, counted here
    independently (windows from the table's features_as_of; fct_events read
    with lake_table for the dates the window touches only): every user with
    an event in the window has exactly one row, and every count per type and
    window equals the events of fct_events in it. One row per user whose
    counts differ.
-#}
{%- set dates = [] -%}
{%- if execute and load_relation(ref('dim_user_features')) is not none -%}
    {%- set as_of = run_query(
        'select max(features_as_of) from ' ~ ref('dim_user_features')
    ).columns[0].values()[0] -%}
    {%- if as_of is not none -%}
        {%- set timedelta = modules.datetime.timedelta -%}
        {%- set first_date = (as_of - timedelta(days=30)).date() -%}
        {%- for offset in range((as_of.date() - first_date).days + 1) -%}
            {%- do dates.append(
                (first_date + timedelta(days=offset)).isoformat()) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endif %}

with

dim_user_features as (

    select * from {{ ref('dim_user_features') }}

),

as_of as (

    select max(features_as_of) as features_as_of from dim_user_features

),

fct_events as (

    select
        fct_events.user_id,
        fct_events.event_type,
        fct_events.event_at
        > {{ dbt.dateadd('day', -1, 'as_of.features_as_of') }} as is_in_1d,
        fct_events.event_at
        > {{ dbt.dateadd('day', -7, 'as_of.features_as_of') }} as is_in_7d
    from {{ lake_table('fct_events', dates) }} as fct_events
    cross join as_of
    where
        fct_events.event_at
        > {{ dbt.dateadd('day', -30, 'as_of.features_as_of') }}
        and fct_events.event_at <= as_of.features_as_of

),

expected as (

    select
        user_id,
        count(case when is_in_1d then 1 end) as events_1d,
        count(
            case when is_in_1d and event_type = 'view' then 1 end
        ) as views_1d,
        count(
            case when is_in_1d and event_type = 'cart' then 1 end
        ) as carts_1d,
        count(
            case when is_in_1d and event_type = 'remove_from_cart' then 1 end
        ) as cart_removals_1d,
        count(
            case when is_in_1d and event_type = 'purchase' then 1 end
        ) as purchases_1d,
        count(case when is_in_7d then 1 end) as events_7d,
        count(
            case when is_in_7d and event_type = 'view' then 1 end
        ) as views_7d,
        count(
            case when is_in_7d and event_type = 'cart' then 1 end
        ) as carts_7d,
        count(
            case when is_in_7d and event_type = 'remove_from_cart' then 1 end
        ) as cart_removals_7d,
        count(
            case when is_in_7d and event_type = 'purchase' then 1 end
        ) as purchases_7d,
        count(*) as events_30d,
        count(case when event_type = 'view' then 1 end) as views_30d,
        count(case when event_type = 'cart' then 1 end) as carts_30d,
        count(
            case when event_type = 'remove_from_cart' then 1 end
        ) as cart_removals_30d,
        count(case when event_type = 'purchase' then 1 end) as purchases_30d
    from fct_events
    group by 1

),

differences as (

    select
        coalesce(expected.user_id, dim_user_features.user_id) as user_id,
        expected.events_30d as expected_events_30d,
        dim_user_features.events_30d as actual_events_30d
    from expected
    full outer join dim_user_features
        on expected.user_id = dim_user_features.user_id
    where
        expected.user_id is null
        or dim_user_features.user_id is null
        or expected.events_1d != dim_user_features.events_1d
        or expected.views_1d != dim_user_features.views_1d
        or expected.carts_1d != dim_user_features.carts_1d
        or expected.cart_removals_1d != dim_user_features.cart_removals_1d
        or expected.purchases_1d != dim_user_features.purchases_1d
        or expected.events_7d != dim_user_features.events_7d
        or expected.views_7d != dim_user_features.views_7d
        or expected.carts_7d != dim_user_features.carts_7d
        or expected.cart_removals_7d != dim_user_features.cart_removals_7d
        or expected.purchases_7d != dim_user_features.purchases_7d
        or expected.events_30d != dim_user_features.events_30d
        or expected.views_30d != dim_user_features.views_30d
        or expected.carts_30d != dim_user_features.carts_30d
        or expected.cart_removals_30d != dim_user_features.cart_removals_30d
        or expected.purchases_30d != dim_user_features.purchases_30d

)

select * from differences
