{#-
    The model_name a model's rows carry in control.model_watermarks: the
    model's name for the production build (schema `build`), and
    `<schema>.<model>` for a build into another schema (an analyst's dev
    target, dbt_<user>), so a development build never moves, nor reads,
    production's watermarks.
-#}
{% macro watermark_name(model_name) -%}
    {%- if target.schema == var('build_schema') or target.type != 'duckdb' -%}
        {{ return(model_name) }}
    {%- endif -%}
    {{ return(target.schema ~ '.' ~ model_name) }}
{%- endmacro %}
