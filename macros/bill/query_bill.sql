{% macro enable_query_bill() -%}
    {{ return(adapter.dispatch('enable_query_bill')()) }}
{%- endmacro %}

{% macro default__enable_query_bill() -%}
    call truncate_duckdb_logs();
    call enable_logging(['FileSystem', 'QueryLog'], level := 'trace');
    create or replace table {{ query_bill_pending() }} as
    select * from control.query_bill where false
{%- endmacro %}

{#-
    This invocation's rows, in the dbt process's memory until on-run-end.
    Spark records none: its control.query_bill stays empty.
-#}
{% macro query_bill_pending() -%}
    {{ return(adapter.dispatch('query_bill_pending')()) }}
{%- endmacro %}

{% macro default__query_bill_pending() -%}
    memory.main.query_bill_pending
{%- endmacro %}

{% macro spark__query_bill_pending() -%}
    control.query_bill
{%- endmacro %}


{% macro flush_query_bill() -%}
    {{ return(adapter.dispatch('flush_query_bill')()) }}
{%- endmacro %}

{% macro default__flush_query_bill() -%}
    insert into control.query_bill
    select * from {{ query_bill_pending() }}
{%- endmacro %}

{% macro spark__flush_query_bill() -%}
    select 1
{%- endmacro %}

{% macro spark__enable_query_bill() -%}
    select 1
{%- endmacro %}


{% macro query_bill_start() -%}
    {{ return(adapter.dispatch('query_bill_start')()) }}
{%- endmacro %}

{% macro default__query_bill_start() -%}
    select '{{ query_bill_mark(this) }}' as query_bill_start
{%- endmacro %}

{% macro spark__query_bill_start() -%}
    select 1
{%- endmacro %}

{#- The text of a model's start mark, as DuckDB's query log holds it. -#}
{% macro query_bill_mark(relation) -%}
    eventlake query_bill start {{ invocation_id }} {{ relation.identifier }}
    incremental={{ is_incremental() }}
{%- endmacro %}


{% macro record_query_bill() -%}
    {{ return(adapter.dispatch('record_query_bill')()) }}
{%- endmacro %}

{% macro default__record_query_bill() -%}
    {%- set window = model.config.get('meta', {}).get('read_window_days') -%}
    insert into {{ query_bill_pending() }}
    with

    connection_log as (

        select timestamp as logged_at, type, message
        from duckdb_logs
        where connection_id = current_connection_id()

    ),

    started as (

        select
            max(logged_at) as started_at,
            arg_max(message, logged_at) like '%incremental=True%'
                as is_incremental
        from connection_log
        where type = 'QueryLog'
            and message like '%eventlake query_bill start {{ invocation_id }} '
                || '{{ this.identifier }}%'

    ),

    file_operations as (

        select
            connection_log.logged_at,
            parsed.op as operation,
            parsed.path,
            coalesce(try_cast(parsed.bytes as bigint), 0) as bytes,
            try_cast(
                regexp_extract(parsed.path, 'event_date=(\d{4}-\d{2}-\d{2})', 1)
                as date
            ) as file_date
        from connection_log
        cross join started
        cross join lateral (
            select
                json_extract_string(message, '$.op') as op,
                json_extract_string(message, '$.path') as path,
                json_extract_string(message, '$.bytes') as bytes
        ) as parsed
        where connection_log.type = 'FileSystem'
            and connection_log.logged_at >= started.started_at

    ),

    written as (

        select min(file_date) as earliest_date_written
        from file_operations
        where operation = 'WRITE'

    ),

    reads as (

        select
            count(distinct path) as files_read,
            coalesce(sum(bytes), 0) as bytes_read,
            min(file_date) as earliest_date_read,
            coalesce(sum(bytes) filter (
                where file_date
                    < written.earliest_date_written - {{ window or 0 }}
            ), 0) as bytes_read_before_window
        from file_operations
        cross join written
        where operation = 'READ'

    )

    select
        '{{ invocation_id }}' as invocation_id,
        '{{ this.schema }}' as schema_name,
        '{{ this.identifier }}' as model_name,
        started.is_incremental,
        started.started_at,
        epoch(
            (select max(logged_at) from connection_log) - started.started_at
        ) as seconds,
        reads.files_read,
        reads.bytes_read,
        reads.earliest_date_read,
        written.earliest_date_written,
        {{ window if window is not none else 'null' }} as read_window_days,
        {%- if window is not none %}
        reads.bytes_read_before_window
        {%- else %}
        null
        {%- endif %} as bytes_read_before_window
    from started
    cross join reads
    cross join written
{%- endmacro %}

{% macro spark__record_query_bill() -%}
    select 1
{%- endmacro %}


{% macro fail_with(message) -%}
    {{ return(adapter.dispatch('fail_with')(message)) }}
{%- endmacro %}

{% macro default__fail_with(message) -%}
    error({{ message }})
{%- endmacro %}

{% macro spark__fail_with(message) -%}
    raise_error({{ message }})
{%- endmacro %}
