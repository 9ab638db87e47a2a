{#-
    One name for analysts: recent dates come from the hot mirror in the
    warehouse (fct_events_recent), older dates from the lake (fct_events).
    The boundary is the mirror's first date when this view was built; the
    lake side filters on it as a literal, so its files are pruned by date.
-#}
{{ config(materialized='view') }}

{%- set quoted = [] -%}
{%- for column in lake_columns(ref('fct_events')) -%}
    {%- do quoted.append(adapter.quote(column)) -%}
{%- endfor -%}
{#- One column per line, at the select list's indent. -#}
{%- set select_list = quoted | join(',\n        ') if quoted else '*' -%}
{%- set first_hot_date = none -%}
{%- if execute and load_relation(ref('fct_events_recent')) is not none -%}
    {%- set first_hot_date = run_query(
        'select cast(min(event_date) as ' ~ dbt.type_string() ~ ') from '
        ~ ref('fct_events_recent')
    ).columns[0].values()[0] -%}
{%- endif %}

with

recent as (

    select * from {{ ref('fct_events_recent') }}

),

history as (

    select * from {{ ref('fct_events') }}
    where event_date < cast('{{ first_hot_date or "9999-12-31" }}' as date)

),

routed as (

    select
        {{ select_list }}
    from recent

    union all

    select
        {{ select_list }}
    from history

)

select * from routed
