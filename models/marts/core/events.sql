{#-
    One name for analysts: the facts. DuckLake prunes a date filter to that
    date's files, so a last-day query reads what a mirror of recent days
    would hold, without a second copy.
-#}
{{ config(materialized='view') }}

with

events as (

    select * from {{ ref('fct_events') }}

)

select * from events
