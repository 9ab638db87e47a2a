{#-
    `dbt run-operation publish_erasure`: re-pins the published views
    (publish_build) to the lakehouse as it is now, from an operation of its
    own. Run by `eventlake erasure process` once the files that held erased
    rows are rewritten, before the snapshots reading the old files expire.
    publish_build commits its views in a transaction of its own, so the
    build schema's relations are listed (and cached) first, in the
    operation's transaction, which is then committed.
-#}
{% macro publish_erasure() -%}
    {%- do adapter.get_relation(
        database=target.database, schema=target.schema,
        identifier='fct_events') -%}
    {%- do adapter.commit() -%}
    {%- do publish_build() -%}
{%- endmacro %}
