{% macro watermark_name(model_name) -%}
    {%- if target.schema == var('build_schema') or target.type != 'duckdb' -%}
        {{ return(model_name) }}
    {%- endif -%}
    {{ return(target.schema ~ '.' ~ model_name) }}
{%- endmacro %}
