{#-
    The one definition of a valid erasure request id (letters, digits and
    ._:-, at most 128), as a regular expression. The macros that take
    request ids check them against it, and eventlake.erasure.subjects reads
    this file, so Python and dbt accept the same ids.
-#}
{% macro request_id_pattern() -%}
    {{ return('^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$') }}
{%- endmacro %}
