{#- Stops the build on an on_schema_change that would rewrite old partitions. -#}
{% macro lake_partitions_check_on_schema_change(on_schema_change) -%}
    {%- if on_schema_change not in ['append_new_columns', 'ignore', 'fail'] -%}
        {{ exceptions.raise_compiler_error(
            "lake_partitions: on_schema_change must be append_new_columns,"
            ~ " ignore or fail (old partitions are never rewritten), got '"
            ~ on_schema_change ~ "'") }}
    {%- endif -%}
{%- endmacro %}
