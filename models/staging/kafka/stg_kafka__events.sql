{#-
    On DuckDB, lake_source reads the raw files this build merges (see
    lake_files_to_merge). Fields of the raw lake this model renames. Any other column (a field the
    event contract gained later, such as coupon_code or referrer) passes
    through under its own name, so new fields reach the facts additively.
-#}

{%- set renamed_fields = [
    'event_id', 'user_id', 'session_id', 'product_id', 'category_id',
    'event_type', 'category_code', 'brand', 'currency', 'country', 'device',
    '_topic', 'price', 'schema_version', '_partition', '_offset',
    'event_date', 'event_time', '_ingested_at', '_source_file',
] -%}
{#- _source_file (the reader's file name column) is not carried on. -#}
{%- set added_fields = lake_columns(lake_source('kafka', 'events'))
    | reject('in', renamed_fields) | list -%}

with

source as (

    select * from {{ lake_source('kafka', 'events') }}

),

erasure_suppressions as (

    select subject_hash from {{ source('control', 'erasure_suppressions') }}

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
        _ingested_at as ingested_at,

        -- fields added to the event contract later
        {%- for field in added_fields %}
            {{ adapter.quote(field) }},
        {%- endfor %}

        -- ranks the copies of an event a producer retry landed
        row_number() over (
            partition by event_date, event_id
            order by _ingested_at, _partition, _offset
        ) as copy_number

    from source

),

-- A retried event repeats its event_time, so its copies share an event_date:
-- deduplicating within a date (the partition the late window reopens) is
-- deduplicating for good, and a date filter still prunes the lake's files.
deduplicated as (

    select renamed.*
    from renamed
    left join erasure_suppressions
        on
            {{ subject_hash('renamed.user_id') }}
            = erasure_suppressions.subject_hash
    where
        renamed.copy_number = 1
        and erasure_suppressions.subject_hash is null

)

select
    event_id,
    user_id,
    session_id,
    product_id,
    category_id,
    event_type,
    category_code,
    product_family,
    brand_name,
    currency_code,
    country_code,
    device_type,
    kafka_topic,
    price,
    schema_version,
    kafka_partition,
    kafka_offset,
    event_date,
    event_at,
    {%- for field in added_fields %}
        {{ adapter.quote(field) }},
    {%- endfor %}
    ingested_at
from deduplicated
-- depends_on: {{ ref('int_event_files__arrived') }}
