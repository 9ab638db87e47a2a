{#-
    The hot mirror: the newest var hot_days dates of fct_events copied into
    the warehouse, so dashboards on recent data never touch the lake. Each
    build replaces the dates fct_events rewrote and drops the dates that
    aged out (post-hook). Spark's Parquet tables have no DELETE: there the
    table is partitioned by date and the dates' partitions are replaced.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy=(
        'insert_overwrite' if target.type == 'spark' else 'delete+insert'),
    partition_by=('event_date' if target.type == 'spark' else none),
    unique_key='event_date',
    on_schema_change='append_new_columns',
    meta={'retention': {'date_column': 'event_date', 'keep': 'lake'}},
    pre_hook="{{ delete_changed_partitions('fct_events') }}",
    post_hook=[
        "{{ expire_hot_partitions() }}",
        "{{ record_consumed_partitions('fct_events') }}",
    ],
) }}

{%- set changed = changed_partitions('fct_events') -%}
{%- set hot = changed[-var('hot_days'):] if not is_incremental() else changed %}

with

events as (

    select * from {{ lake_table('fct_events', hot) }}

)

select * from events
