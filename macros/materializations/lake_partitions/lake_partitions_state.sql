{% macro lake_partitions_state(model_name) -%}
    {{ return(lake_partitions_state_relation(ref(model_name))) }}
{%- endmacro %}

{% macro lake_partitions_state_relation(relation) -%}
    {{ return(relation.incorporate(path={
        'identifier': relation.identifier ~ '__partitions'})) }}
{%- endmacro %}
