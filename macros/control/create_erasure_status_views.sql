{#-
    Views over the erasure log (control.erasure_confirmations is append-only:
    every pass and every store adds rows, nothing is updated):
    - erasure_store_status: the latest word of each store on each object of
      each request;
    - erasure_status: one row per request with its due date, how many
      (store, object) steps are confirmed, pending or failed, and its state:
      complete once every step is confirmed, overdue when past due and not,
      failed, or open, and when it completed.
    `eventlake erasure status` and `eventlake erasure audit` read them.
-#}
{% macro create_erasure_status_views() -%}
    {{ erasure_status_views() | join(';\n') }}
{%- endmacro %}


{#-
    The two views' statements, in SQL both DuckDB and Spark run (no QUALIFY:
    the latest word is filtered from a subquery). Spark runs one statement
    per call, so they come as a list.
-#}
{% macro erasure_status_views() -%}
    {%- set store_status -%}
    create or replace view control.erasure_store_status as
    select
        request_id,
        store,
        object,
        status,
        rows_deleted,
        files_rewritten,
        confirmed_at,
        detail,
        recorded_at,
        pass_id
    from (
        select
            *,
            row_number() over (
                partition by request_id, store, object
                order by recorded_at desc, confirmed_at desc nulls last
            ) as recency_rank
        from control.erasure_confirmations
    ) as ranked
    where recency_rank = 1
    {%- endset -%}
    {%- set status -%}
    create or replace view control.erasure_status as
    with steps as (
        select
            request_id,
            count(*) filter (where status = 'confirmed') as confirmed_steps,
            count(*) filter (where status = 'pending') as pending_steps,
            count(*) filter (where status = 'failed') as failed_steps,
            max(confirmed_at) as last_confirmed_at
        from control.erasure_store_status
        group by request_id
    )

    select
        requests.request_id,
        requests.subject_hash,
        requests.requested_at,
        requests.received_at,
        requests.due_at,
        coalesce(steps.confirmed_steps, 0) as confirmed_steps,
        coalesce(steps.pending_steps, 0) as pending_steps,
        coalesce(steps.failed_steps, 0) as failed_steps,
        case
            when coalesce(steps.confirmed_steps, 0) > 0
                and steps.pending_steps = 0
                and steps.failed_steps = 0
                then 'complete'
            when current_timestamp > requests.due_at then 'overdue'
            when steps.failed_steps > 0 then 'failed'
            else 'open'
        end as state,
        case
            when coalesce(steps.confirmed_steps, 0) > 0
                and steps.pending_steps = 0
                and steps.failed_steps = 0
                then steps.last_confirmed_at
        end as completed_at
    from control.erasure_requests as requests
    left join steps on requests.request_id = steps.request_id
    {%- endset -%}
    {{ return([store_status, status]) }}
{%- endmacro %}
