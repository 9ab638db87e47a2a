{% macro create_control_plane() -%}
    {{ return(adapter.dispatch('create_control_plane')()) }}
{%- endmacro %}

{% macro default__create_control_plane() -%}
    create schema if not exists control;
    create table if not exists control.erasure_suppressions (
        subject_hash varchar not null,
        suppressed_at timestamp with time zone
    );
    create table if not exists control.erasure_requests (
        request_id varchar not null,
        subject_hash varchar not null,
        requested_at timestamp with time zone,
        received_at timestamp with time zone not null,
        due_at timestamp with time zone not null
    );
    create table if not exists control.erasure_confirmations (
        request_id varchar not null,
        store varchar not null,
        object varchar not null,
        rows_deleted bigint,
        files_rewritten integer,
        status varchar not null,
        confirmed_at timestamp with time zone,
        detail varchar,
        recorded_at timestamp with time zone not null,
        pass_id varchar
    );
    create table if not exists control.model_watermarks (
        model_name varchar,
        upstream_name varchar,
        consumed_through timestamp with time zone,
        updated_at timestamp with time zone
    );
    create table if not exists control.query_bill (
        invocation_id varchar not null,
        schema_name varchar not null,
        model_name varchar not null,
        is_incremental boolean,
        started_at timestamp with time zone,
        seconds double,
        files_read bigint,
        bytes_read bigint,
        earliest_date_read date,
        earliest_date_written date,
        read_window_days integer,
        bytes_read_before_window bigint
    );
    create table if not exists control.partition_filters (
        table_name varchar not null,
        column_name varchar not null
    );
    {{ create_erasure_status_views() }}
{%- endmacro %}

{% macro spark__create_control_plane() -%}
    {%- set statements = [
        'create schema if not exists control',
        'create table if not exists control.erasure_suppressions ('
            ~ ' subject_hash string, suppressed_at timestamp) using parquet',
        'create table if not exists control.erasure_requests ('
            ~ ' request_id string, subject_hash string,'
            ~ ' requested_at timestamp, received_at timestamp,'
            ~ ' due_at timestamp) using parquet',
        'create table if not exists control.erasure_confirmations ('
            ~ ' request_id string, store string, object string,'
            ~ ' rows_deleted bigint, files_rewritten int, status string,'
            ~ ' confirmed_at timestamp, detail string,'
            ~ ' recorded_at timestamp, pass_id string) using parquet',
        'create table if not exists control.model_watermarks ('
            ~ ' model_name string, upstream_name string,'
            ~ ' consumed_through timestamp, updated_at timestamp)'
            ~ ' using parquet',
        'create table if not exists control.query_bill ('
            ~ ' invocation_id string, schema_name string, model_name string,'
            ~ ' is_incremental boolean, started_at timestamp,'
            ~ ' seconds double, files_read bigint, bytes_read bigint,'
            ~ ' earliest_date_read date, earliest_date_written date,'
            ~ ' read_window_days int, bytes_read_before_window bigint)'
            ~ ' using parquet',
    ] + erasure_status_views() -%}
    {%- if execute -%}
        {%- for statement in statements -%}
            {%- do run_query(statement) -%}
        {%- endfor -%}
    {%- endif -%}
    select 1
{%- endmacro %}


{% macro setup_control_plane() -%}
    {%- do run_query(create_control_plane()) -%}
    {%- do adapter.commit() -%}
{%- endmacro %}
