{% macro spark_rewrite_table(relation, keep_sql, partition_by=none, partitions=[]) -%}
    {%- for value in partitions
        if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', value | string) -%}
        {{ exceptions.raise_compiler_error(
            "spark_rewrite_table: expected YYYY-MM-DD partitions, got '"
            ~ value ~ "'") }}
    {%- endfor -%}
    {%- set stage = relation.incorporate(path={
        'identifier': relation.identifier ~ '__rewrite'}) -%}
    {%- if load_relation(stage) is not none -%}
        {{ exceptions.raise_compiler_error(
            "spark_rewrite_table: " ~ stage ~ " exists: an earlier rewrite of "
            ~ relation ~ " did not finish, and the rows it kept may be only"
            ~ " there. Check it, `insert overwrite` " ~ relation ~ " from it if"
            ~ " its partitions lack rows, then drop it; nothing was changed") }}
    {%- endif -%}
    {%- do run_query('create table ' ~ stage ~ ' using parquet as '
        ~ keep_sql) -%}
    {%- if partition_by -%}
        {%- do run_query(
            'set spark.sql.sources.partitionOverwriteMode = dynamic') -%}
        {%- do run_query(
            'insert overwrite table ' ~ relation ~ ' partition ('
            ~ partition_by ~ ') select * from ' ~ stage) -%}
        {%- set kept = run_query(
            'select distinct cast(' ~ partition_by ~ ' as string) from '
            ~ stage).columns[0].values() | list -%}
        {%- set data_columns = [] -%}
        {%- for column in adapter.get_columns_in_relation(relation)
            if column.name != partition_by -%}
            {%- do data_columns.append(adapter.quote(column.name)) -%}
        {%- endfor -%}
        {%- for value in partitions if value | string not in kept -%}
            {%- do run_query(
                'insert overwrite table ' ~ relation ~ ' partition ('
                ~ partition_by ~ ' = ' ~ dbt.string_literal(value)
                ~ ') select ' ~ data_columns | join(', ') ~ ' from '
                ~ stage ~ ' where false') -%}
        {%- endfor -%}
    {%- else -%}
        {%- do run_query('insert overwrite table ' ~ relation
            ~ ' select * from ' ~ stage) -%}
    {%- endif -%}
    {%- do run_query('drop table if exists ' ~ stage) -%}
{%- endmacro %}
