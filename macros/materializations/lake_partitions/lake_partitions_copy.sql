{#- COPY one partition of a lake_partitions model into a folder. -#}
{% macro lake_partitions_copy(
    query, columns, partition_by, value, sort_by, folder, file_size,
    row_group_size
) -%}
    copy (
        select
        {%- for column in columns %}
            {{ adapter.quote(column) }}{{ "," if not loop.last }}
        {%- endfor %}
        from ({{ query }}) as model
        where {{ partition_by }} = date '{{ value }}'
        {%- if sort_by %}
        order by {{ sort_by | join(', ') }}
        {%- endif %}
    ) to {{ dbt.string_literal(folder) }} (
        format parquet,
        compression zstd,
        row_group_size {{ row_group_size }},
        file_size_bytes '{{ file_size }}'
    )
{%- endmacro %}
