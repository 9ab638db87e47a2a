{#-
    Root of the Parquet lake: --vars lake_dir when given, else
    EVENTLAKE_LAKE_DIR (default `lake`), read when the macro runs. Not a
    project var: an env_var() in dbt_project.yml enters dbt's partial-parse
    state check, so every lake would cost a full parse.
-#}
{% macro lake_dir() -%}
    {{ return(var('lake_dir', env_var('EVENTLAKE_LAKE_DIR', 'lake'))) }}
{%- endmacro %}
