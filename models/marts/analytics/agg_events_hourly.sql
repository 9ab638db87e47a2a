{#-
    Rebuilt by date like agg_events_daily: only the fct_events partitions
    written since this model last consumed them are read, and their dates
    replaced. event_hour is truncated in the session time zone, UTC (the
    profile sets it).
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
        event_at,
        user_id,
        session_id,
        event_type,
        country_code,
        product_family,
        currency_code,
        price
    from {{ lake_table('fct_events', changed) }} as fct_events

),

hourly as (

    select
        {{ dbt.date_trunc('hour', 'event_at') }} as event_hour,
        event_date,
        coalesce(country_code, 'unknown') as country_code,
        coalesce(product_family, 'unknown') as product_family,
        event_type,
        coalesce(currency_code, 'unknown') as currency_code,
        count(*) as events,
        count(distinct user_id) as distinct_users,
        count(distinct session_id) as distinct_sessions,
        -- decimal(38, 2) on every engine (a DuckDB sum's type; Spark's is
        -- narrower).
        cast(
            coalesce(
                sum(case when event_type = 'purchase' then price end), 0
            ) as decimal(38, 2)
        ) as revenue
    from events
    group by 1, 2, 3, 4, 5, 6

)

select * from hourly
