with

query_bill as (

    select
        invocation_id,
        schema_name,
        model_name,
        is_incremental,
        started_at,
        seconds,
        files_read,
        bytes_read
    from {{ source('control', 'query_bill') }}

)

select * from query_bill
