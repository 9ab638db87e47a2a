{% test reads_within_window(model) %}

with

query_bill as (

    select * from {{ query_bill_pending() }}

),

beyond_window as (

    select
        model_name,
        bytes_read,
        bytes_read_before_window,
        read_window_days,
        earliest_date_read,
        earliest_date_written
    from query_bill
    where schema_name = '{{ model.schema }}'
        and model_name = '{{ model.identifier }}'
        and is_incremental
        and bytes_read_before_window > 0

)

-- The message is raised in the filter: dbt counts the rows of a test, and
-- a column it does not read would never be evaluated.
select *
from beyond_window
where {{ fail_with(
    "model_name || ' read ' || bytes_read_before_window"
    ~ " || ' bytes from partitions older than its read window ('"
    ~ " || read_window_days || ' days before '"
    ~ " || earliest_date_written || ', the oldest date it wrote;'"
    ~ " || ' oldest read: ' || earliest_date_read || ', '"
    ~ " || bytes_read || ' bytes read in all)'"
) }} is not null

{% endtest %}
