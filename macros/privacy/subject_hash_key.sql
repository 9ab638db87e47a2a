{#-
    Key of subject_hash(): --vars subject_hash_key when given, else
    EVENTLAKE_SUBJECT_HASH_KEY, read when the macro runs (not a project var,
    like lake_dir()).
-#}
{% macro subject_hash_key() -%}
    {{ return(var('subject_hash_key',
        env_var('EVENTLAKE_SUBJECT_HASH_KEY', 'eventlake-dev-key'))) }}
{%- endmacro %}
