{#-
    A model's SQL with every lake glob spanning all partitions
    (`/<partition_by>=*/`) narrowed to one partition's folder, so writing a
    partition reads that partition's files only.
-#}
{% macro model_sql_for_partition(query, partition_by, value) -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', value) -%}
        {{ exceptions.raise_compiler_error(
            "lake_partitions: expected a YYYY-MM-DD partition value, got '"
            ~ value ~ "'") }}
    {%- endif -%}
    {{ return(query.replace(
        '/' ~ partition_by ~ '=*/', '/' ~ partition_by ~ '=' ~ value ~ '/')) }}
{%- endmacro %}
