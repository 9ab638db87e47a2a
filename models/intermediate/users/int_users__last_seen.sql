{#-
    Each user's attributes as last seen. Incremental: a build reads only the
    date partitions fct_events rewrote since this model last consumed them
    (changed_partitions) and folds them into the rows it already holds, so
    the cost follows the changed dates, not the history. The fold is
    idempotent (a rewritten date read again changes nothing) and
    order-independent: a late date with older events does not overwrite the
    attributes of newer ones. On Spark (Parquet tables: no MERGE) it is
    rebuilt in full, a fold of every date.
-#}
{{ config(
    materialized=('table' if target.type == 'spark' else 'incremental'),
    incremental_strategy='merge',
    unique_key='user_id',
    on_schema_change='fail',
    post_hook="{{ record_consumed_partitions('fct_events') }}",
) }}

{%- set changed = changed_partitions('fct_events') -%}
{#- The rows the changed dates fold into: none on a full build. -#}
{%- set known = this if is_incremental() else 'changed_users' %}

-- depends_on: {{ ref('fct_events') }}

with

fct_events as (

    select
        event_id,
        user_id,
        event_type,
        country_code,
        device_type,
        event_at
    from {{ lake_table('fct_events', changed) }} as fct_events

),

ranked as (

    select
        user_id,
        country_code,
        device_type,
        row_number() over (
            partition by user_id
            order by event_at desc, event_id desc
        ) as recency_rank
    from fct_events

),

latest as (

    select
        user_id,
        country_code,
        device_type
    from ranked
    where recency_rank = 1

),

activity as (

    select
        user_id,
        min(event_at) as first_seen_at,
        max(event_at) as last_seen_at,
        max(case when event_type = 'purchase' then event_at end)
            as last_purchase_at
    from fct_events
    group by 1

),

changed_users as (

    select
        activity.user_id,
        latest.country_code,
        latest.device_type,
        activity.first_seen_at,
        activity.last_seen_at,
        activity.last_purchase_at
    from activity
    inner join latest
        on activity.user_id = latest.user_id

),

known_users as (

    select
        user_id,
        country_code,
        device_type,
        first_seen_at,
        last_seen_at,
        last_purchase_at
    from {{ known }}
    where
        {{ 'true' if is_incremental() else 'false' }}
        and user_id in (select changed_users.user_id from changed_users)

),

folded as (

    select
        changed_users.user_id,
        case
            when known_users.last_seen_at > changed_users.last_seen_at
                then known_users.country_code
            else changed_users.country_code
        end as country_code,
        case
            when known_users.last_seen_at > changed_users.last_seen_at
                then known_users.device_type
            else changed_users.device_type
        end as device_type,
        case
            when known_users.first_seen_at < changed_users.first_seen_at
                then known_users.first_seen_at
            else changed_users.first_seen_at
        end as first_seen_at,
        case
            when known_users.last_seen_at > changed_users.last_seen_at
                then known_users.last_seen_at
            else changed_users.last_seen_at
        end as last_seen_at,
        case
            when
                changed_users.last_purchase_at is null
                or known_users.last_purchase_at
                > changed_users.last_purchase_at
                then known_users.last_purchase_at
            else changed_users.last_purchase_at
        end as last_purchase_at
    from changed_users
    left join known_users
        on changed_users.user_id = known_users.user_id

),

final as (

    select
        -- ids
        user_id,

        -- strings
        country_code,
        device_type,
        case
            when last_purchase_at is not null then 'buyer' else 'browser'
        end as segment,

        -- booleans
        last_purchase_at is not null as has_purchased,

        -- timestamps
        first_seen_at,
        last_seen_at,
        last_purchase_at
    from folded

)

select * from final
