{% macro record_partition_filters() -%}
    {%- if not execute or target.type != 'duckdb'
        or target.schema != var('build_schema') -%}
        {{ return('') }}
    {%- endif -%}
    {%- set rows = [] -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model'
        and node.config.meta.get('require_partition_filter') -%}
        {%- do rows.append("('" ~ node.alias ~ "', '"
            ~ node.config.meta['require_partition_filter'] ~ "')") -%}
    {%- endfor -%}
    create or replace table control.partition_filters as
    {% if rows -%}
    select * from (values {{ rows | join(', ') }}) as t (table_name, column_name)
    {%- else -%}
    select null::varchar as table_name, null::varchar as column_name where false
    {%- endif %}
{%- endmacro %}
