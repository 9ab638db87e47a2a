{% macro latest_build_partitions(model_name) -%}
    {%- set relation = ref(model_name) -%}
    {%- if not execute or load_relation(relation) is none -%}
        {{ return([]) }}
    {%- endif -%}
    {{ return(adapter.dispatch('latest_build_partitions')(model_name)) }}
{%- endmacro %}

{% macro default__latest_build_partitions(model_name) -%}
    {%- set relation = ref(model_name) -%}
    {%- set since = run_started_at.isoformat() -%}
    {%- set published = published_snapshot_time(relation) -%}
    {%- if published is not none -%}
        {%- set since = published -%}
    {%- endif -%}
    {{ return(dates_changed_since(relation, since)) }}
{%- endmacro %}

{#-
    When the snapshot a build relation's published view is pinned to was
    taken (text), or none: not the production target, or not published.
-#}
{% macro published_snapshot_time(relation) -%}
    {%- if target.schema != var('build_schema') -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set definition = run_query(
        "select sql from duckdb_views() where database_name = '"
        ~ relation.database ~ "' and schema_name = '" ~ published_schema()
        ~ "' and view_name = '" ~ relation.identifier ~ "'"
    ).columns[0].values() -%}
    {%- set pinned = modules.re.search(
        '(?i)at\\s*\\(\\s*version\\s*=>\\s*([0-9]+)',
        definition[0] if definition else '') -%}
    {%- if not pinned -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set taken = run_query(
        "select cast(snapshot_time as varchar) from " ~ relation.database
        ~ ".snapshots() where snapshot_id = " ~ pinned.group(1)
    ).columns[0].values() -%}
    {{ return(taken[0] if taken else none) }}
{%- endmacro %}

{% macro spark__latest_build_partitions(model_name) -%}
    {%- set state = lake_partitions_state(model_name) -%}
    {%- if load_relation(state) is none -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set query -%}
        select cast(event_date as {{ dbt.type_string() }})
        from {{ state }}
        where built_at = (select max(built_at) from {{ state }})
        order by 1
    {%- endset -%}
    {{ return(run_query(query).columns[0].values() | list) }}
{%- endmacro %}
