{#-
    Keyed hash of a subject id (hex SHA-256 of key || id), the key being var
    subject_hash_key (env EVENTLAKE_SUBJECT_HASH_KEY). Pseudonymises user ids
    in exports and names erased subjects without storing their ids.
-#}
{% macro subject_hash(column_name) -%}
    {{ return(adapter.dispatch('subject_hash')(column_name)) }}
{%- endmacro %}

{% macro default__subject_hash(column_name) -%}
    sha2(concat({{ dbt.string_literal(var('subject_hash_key')) }},
        {{ column_name }}), 256)
{%- endmacro %}

{% macro duckdb__subject_hash(column_name) -%}
    sha256({{ dbt.string_literal(var('subject_hash_key')) }}
        || {{ column_name }})
{%- endmacro %}
