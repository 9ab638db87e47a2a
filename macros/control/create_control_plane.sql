{#-
    The control-plane tables eventlake commands share with the models,
    created if missing at the start of every dbt invocation (on-run-start):
    the erasure suppression list, and the watermarks incremental models
    keep of the lake partitions they have consumed.
-#}
{% macro create_control_plane() -%}
    create schema if not exists control;
    create table if not exists control.erasure_suppressions (
        subject_hash varchar primary key,
        suppressed_at timestamp with time zone
    );
    create table if not exists control.model_watermarks (
        model_name varchar,
        upstream_name varchar,
        consumed_through timestamp with time zone,
        updated_at timestamp with time zone,
        primary key (model_name, upstream_name)
    );
{%- endmacro %}
