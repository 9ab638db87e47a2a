with

source as (

    select * from {{ lake_source('kafka', 'events') }}

),

renamed as (

    select
        -- ids
        event_id,
        user_id,
        session_id,
        product_id,
        category_id,

        -- strings
        event_type,
        category_code,
        {{ dbt.split_part('category_code', "'.'", 1) }} as product_family,
        brand as brand_name,
        currency as currency_code,
        country as country_code,
        device as device_type,
        _topic as kafka_topic,

        -- numerics
        cast(price as decimal(18, 2)) as price,
        schema_version,
        _partition as kafka_partition,
        _offset as kafka_offset,

        -- dates
        cast(event_date as date) as event_date,

        -- timestamps
        event_time as event_at,
        _ingested_at as ingested_at

    from source

)

select * from renamed
