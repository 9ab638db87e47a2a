{#-
    Lives in the lake (var lake_dir)/curated/fct_events/event_date=.../, not in
    the warehouse; see the lake_partitions materialization. Each build
    rewrites the dates whose raw files arrived (and were not late) since the
    date was last written.
-#}
{{ config(
    materialized='lake_partitions',
    partition_by='event_date',
    partitions_changed_in={
        'model': 'int_event_files__arrived',
        'changed_at': 'arrived_at',
        'where': 'not is_late',
    },
    sort_by=['country_code', 'product_family', 'event_type', 'event_at'],
    on_schema_change='append_new_columns',
    meta={'retention': {'date_column': 'event_date', 'keep': 'lake'}},
) }}
-- depends_on: {{ ref('int_event_files__arrived') }}

with

events as (

    select * from {{ ref('stg_kafka__events') }}

)

select * from events
