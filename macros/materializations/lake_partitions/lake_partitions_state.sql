{% macro lake_partitions_state(model_name) -%}
    {%- set relation = ref(model_name) -%}
    {{ return(relation.incorporate(path={
        'identifier': relation.identifier ~ '__partitions'})) }}
{%- endmacro %}
