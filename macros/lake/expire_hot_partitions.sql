{#-
    Post-hook of the hot mirror: deletes the dates older than the newest
    var hot_days dates of fct_events.
-#}
{% macro expire_hot_partitions() -%}
    {{ return(adapter.dispatch('expire_hot_partitions')()) }}
{%- endmacro %}

{% macro default__expire_hot_partitions() -%}
    delete from {{ this }}
    where event_date < ({{ hot_partitions_cutoff() }})
{%- endmacro %}

{#- Spark's Parquet tables have no DELETE: the aged-out partitions are dropped. -#}
{% macro spark__expire_hot_partitions() -%}
    {%- set aged = [] -%}
    {%- if execute -%}
        {%- set aged = run_query(
            'select distinct cast(event_date as string) from ' ~ this
            ~ ' where event_date < (' ~ hot_partitions_cutoff() ~ ')'
        ).columns[0].values() | list -%}
    {%- endif -%}
    {{- spark_drop_partitions(this, aged) -}}
{%- endmacro %}

{#- The oldest date the hot mirror keeps, as a scalar query. -#}
{% macro hot_partitions_cutoff() -%}
    select {{ dbt.dateadd('day', 1 - var('hot_days'), 'max(event_date)') }}
    from {{ lake_partitions_state('fct_events') }}
{%- endmacro %}
