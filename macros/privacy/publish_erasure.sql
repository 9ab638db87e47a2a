{% macro publish_erasure() -%}
    {#- publish_build commits its views in a transaction of its own, so the
        build schema's relations are listed (and cached) first, in the
        operation's transaction, which is then committed. -#}
    {%- do adapter.get_relation(
        database=target.database, schema=target.schema,
        identifier='fct_events') -%}
    {%- do adapter.commit() -%}
    {%- do publish_build() -%}
{%- endmacro %}
