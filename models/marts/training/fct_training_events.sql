{#-
    The events as model training reads them, with users and sessions
    pseudonymised by the keyed subject_hash(). The column list is explicit
    and on_schema_change is fail: a new column in fct_events does not
    change what training reads until it is added here on purpose.

    DuckDB: a DuckLake table partitioned by event_date (Parquet files under
    lake/curated/build/fct_training_events/), appended with the rows each build
    inserted into fct_events (new_rows_of). Spark: the lake_partitions
    materialization rewrites the dates fct_events rewrote.
-#}
{{ config(
    materialized=(
        'lake_partitions' if target.type == 'spark' else 'incremental'),
    incremental_strategy='append',
    partition_by='event_date',
    partitions_changed_in={'model': 'fct_events'},
    sort_by=['event_at', 'event_id'],
    on_schema_change='fail',
    meta={
        'retention': {'date_column': 'event_date', 'keep': 'lake'},
        'require_partition_filter': 'event_date',
        'read_window_days': 0,
    },
    post_hook=(
        [] if target.type == 'spark'
        else ["{{ record_consumed_partitions('fct_events') }}"]),
) }}

with

fct_events as (

    select
        event_id,
        user_id,
        session_id,
        product_id,
        event_type,
        category_code,
        product_family,
        brand_name,
        currency_code,
        country_code,
        device_type,
        price,
        event_date,
        event_at
    from {{ new_rows_of('fct_events') }} as fct_events

),

pseudonymised as (

    select
        -- ids
        event_id,
        {{ subject_hash('user_id') }} as user_key,
        {{ subject_hash('session_id') }} as session_key,
        product_id,

        -- strings
        event_type,
        category_code,
        product_family,
        brand_name,
        currency_code,
        country_code,
        device_type,

        -- numerics
        price,

        -- dates
        event_date,

        -- timestamps
        event_at
    from fct_events

)

select * from pseudonymised
