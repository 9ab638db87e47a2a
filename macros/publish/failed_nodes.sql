{% macro failed_nodes(results) -%}
    {#- The names of the nodes of an invocation's results that failed: an
        error, a failed test, a runtime error. -#}
    {{ return(results
        | selectattr('status', 'in', ['error', 'fail', 'runtime error'])
        | map(attribute='node.name') | list) }}
{%- endmacro %}
