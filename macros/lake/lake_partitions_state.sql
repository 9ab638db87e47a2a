{#-
    The state table of a lake_partitions model: one row per partition with
    when its input changed, when it was written, its rows and files.
-#}
{% macro lake_partitions_state(model_name) -%}
    {%- set relation = ref(model_name) -%}
    {{ return(relation.incorporate(path={
        'identifier': relation.identifier ~ '__partitions'})) }}
{%- endmacro %}
