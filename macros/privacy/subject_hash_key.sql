{#-
    Key of subject_hash(): --vars subject_hash_key when given, else
    EVENTLAKE_SUBJECT_HASH_KEY, read when the macro runs (not a project var,
    like lake_dir()). Not read at parse time (the SQL is not kept then):
    dbt would reparse each model hashing subjects whenever it changes.
-#}
{% macro subject_hash_key() -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {{ return(var('subject_hash_key',
        env_var('EVENTLAKE_SUBJECT_HASH_KEY', 'eventlake-dev-key'))) }}
{%- endmacro %}
