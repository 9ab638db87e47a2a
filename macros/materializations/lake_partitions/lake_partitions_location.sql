{#- Folder of a lake_partitions model: config location, or <lake>/curated/<name>. -#}
{% macro lake_partitions_location(node) -%}
    {{ return(node.config.get('location')
        or lake_dir() ~ '/curated/' ~ node.name) }}
{%- endmacro %}
