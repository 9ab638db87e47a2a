{#-
    COPY one partition of a lake_partitions model into a folder. The
    dictionary limit is one row group, so every string column (user ids
    among them) is dictionary-encoded and gets a bloom filter: erasure finds
    the files holding a subject without reading their data.
-#}
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
        dictionary_size_limit {{ row_group_size }},
        file_size_bytes '{{ file_size }}'
    )
{%- endmacro %}
