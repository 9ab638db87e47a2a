{% macro type_instant() -%}
    {{ return(adapter.dispatch('type_instant')()) }}
{%- endmacro %}

{% macro default__type_instant() -%}
    {{ return('timestamp with time zone') }}
{%- endmacro %}

{% macro spark__type_instant() -%}
    {{ return('timestamp') }}
{%- endmacro %}
