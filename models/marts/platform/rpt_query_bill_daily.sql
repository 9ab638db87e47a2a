{{ config(materialized='table') }}

with

query_bill as (

    select * from {{ ref('stg_control__query_bill') }}
    -- Finished invocations only: this one is still recording its models.
    where invocation_id != '{{ invocation_id }}'

),

daily as (

    select
        cast(started_at as date) as build_date,
        schema_name,
        model_name,
        count(distinct invocation_id) as builds,
        count(*) filter (where is_incremental) as incremental_builds,
        sum(files_read) as files_read,
        sum(bytes_read) as bytes_read,
        max(bytes_read) as max_bytes_read,
        sum(seconds) as seconds,
        max(seconds) as max_seconds
    from query_bill
    group by 1, 2, 3

)

select * from daily
