{#-
    The SQL type of an instant (a UTC point in time): `timestamp with time
    zone` where the engine has it, Spark's `timestamp` (session-zoned) there.
-#}
{% macro type_instant() -%}
    {{ return(adapter.dispatch('type_instant')()) }}
{%- endmacro %}

{% macro default__type_instant() -%}
    {{ return('timestamp with time zone') }}
{%- endmacro %}

{% macro spark__type_instant() -%}
    {{ return('timestamp') }}
{%- endmacro %}
