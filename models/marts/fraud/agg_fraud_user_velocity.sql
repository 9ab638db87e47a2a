{#-
    Velocity counters of the fraud store: per user, what happened in the
    10 minutes, the hour and the 24 hours up to as_of (var features_as_of,
    else the newest event_at in fct_events). A window holds the events with
    window_start < event_at <= window_end. as_of and the dates the 24 hours
    touch are literals computed once at run time (as_of_window), so at most
    two date partitions of fct_events are read.
-#}
{{ config(materialized='table') }}

{%- set window = as_of_window('fct_events', 86400) -%}
{%- set as_of = window.as_of %}

-- depends_on: {{ ref('fct_events') }}

with

fct_events as (

    select
        user_id,
        session_id,
        event_type,
        currency_code,
        country_code,
        device_type,
        price,
        event_at
    from {{ lake_table('fct_events', window.dates) }} as fct_events
    where
        event_at > {{ dbt.dateadd('hour', -24, as_of) }}
        and event_at <= {{ as_of }}

),

windows as (

    select
        '10m' as window_name,
        600 as window_seconds,
        {{ dbt.dateadd('minute', -10, as_of) }} as window_start,
        {{ as_of }} as window_end

    union all

    select
        '1h' as window_name,
        3600 as window_seconds,
        {{ dbt.dateadd('hour', -1, as_of) }} as window_start,
        {{ as_of }} as window_end

    union all

    select
        '24h' as window_name,
        86400 as window_seconds,
        {{ dbt.dateadd('hour', -24, as_of) }} as window_start,
        {{ as_of }} as window_end

),

-- An event lands in every window it falls in: most only in the 24 hours.
windowed as (

    select
        fct_events.user_id,
        fct_events.session_id,
        fct_events.event_type,
        fct_events.currency_code,
        fct_events.country_code,
        fct_events.device_type,
        fct_events.price,
        windows.window_name,
        windows.window_seconds,
        windows.window_start,
        windows.window_end
    from fct_events
    inner join windows
        on
            fct_events.event_at > windows.window_start
            and fct_events.event_at <= windows.window_end

),

velocity as (

    select
        user_id,
        window_name,
        window_seconds,
        window_start,
        window_end,
        count(*) as events,
        count(case when event_type = 'purchase' then 1 end) as purchases,
        sum(case when event_type = 'purchase' then price end)
            as purchase_amount,
        count(
            distinct case when event_type = 'purchase' then currency_code end
        ) as purchase_currencies,
        min(case when event_type = 'purchase' then currency_code end)
            as purchase_currency_code,
        count(distinct session_id) as sessions,
        count(distinct device_type) as device_types,
        count(distinct country_code) as countries
    from windowed
    group by 1, 2, 3, 4, 5

),

final as (

    select
        -- ids
        user_id,

        -- strings
        window_name,
        case
            when purchase_currencies = 1 then purchase_currency_code
        end as purchase_currency_code,

        -- numerics
        cast(window_seconds as integer) as window_seconds,
        events,
        purchases,
        cast(
            case
                when purchase_currencies = 0 then 0
                when purchase_currencies = 1 then purchase_amount
            end as decimal(18, 2)
        ) as purchase_value,
        sessions,
        device_types,
        countries,

        -- timestamps
        window_start,
        window_end
    from velocity

)

select * from final
