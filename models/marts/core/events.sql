{#-
    One name for analysts: recent dates come from the hot mirror in the
    warehouse (fct_events_recent), older dates from the lake (fct_events).
    The boundary is the mirror's first date when this view was built; the
    lake side filters on it as a literal, so its files are pruned by date.
-#}
{{ config(materialized='view') }}

{%- set columns = lake_columns(ref('fct_events')) -%}
{%- set first_hot_date = none -%}
{%- if execute and load_relation(ref('fct_events_recent')) is not none -%}
    {%- set first_hot_date = run_query(
        'select cast(min(event_date) as varchar) from '
        ~ ref('fct_events_recent')
    ).columns[0].values()[0] -%}
{%- endif %}

with

recent as (

    select * from {{ ref('fct_events_recent') }}
    {%- if first_hot_date is none %}
        where false
    {%- endif %}

),

history as (

    select * from {{ ref('fct_events') }}
    {%- if first_hot_date %}
    where event_date < cast('{{ first_hot_date }}' as date)
    {%- endif %}

),

routed as (

    select
    {%- for column in columns %}
        {{ adapter.quote(column) }}{{ "," if not loop.last }}
    {%- endfor %}
    from recent

    union all

    select
    {%- for column in columns %}
        {{ adapter.quote(column) }}{{ "," if not loop.last }}
    {%- endfor %}
    from history

)

select * from routed
