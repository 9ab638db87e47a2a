{% macro subject_hash(column_name) -%}
    {{ return(adapter.dispatch('subject_hash')(column_name)) }}
{%- endmacro %}

{% macro default__subject_hash(column_name) -%}
    sha2(concat({{ dbt.string_literal(subject_hash_key()) }},
        {{ column_name }}), 256)
{%- endmacro %}

{% macro duckdb__subject_hash(column_name) -%}
    sha256({{ dbt.string_literal(subject_hash_key()) }}
        || {{ column_name }})
{%- endmacro %}
