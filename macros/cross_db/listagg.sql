{#-
    dbt.listagg on Spark with its `order by <column> [asc|desc]` honoured
    (dbt-spark drops the order): the values are collected with their sort key
    and sorted before they are joined.
-#}
{% macro spark__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- set collected = 'collect_list(' ~ measure ~ ')' -%}
    {%- if order_by_clause -%}
        {%- set match = modules.re.match(
            '^\s*order\s+by\s+([A-Za-z_][A-Za-z0-9_.]*)\s*(asc|desc)?\s*$',
            order_by_clause, modules.re.I) -%}
        {%- if not match -%}
            {{ exceptions.raise_compiler_error(
                "listagg on Spark: expected order_by_clause as 'order by"
                ~ " <column> [asc|desc]', got '" ~ order_by_clause ~ "'") }}
        {%- endif -%}
        {%- set ascending = (match.group(2) or 'asc') | lower == 'asc' -%}
        {%- set collected = 'transform(sort_array(collect_list(struct('
            ~ match.group(1) ~ ' as sort_key, ' ~ measure ~ ' as item)), '
            ~ ('true' if ascending else 'false') ~ '), entry -> entry.item)' -%}
    {%- endif -%}
    {%- if limit_num -%}
        {%- set collected = 'slice(' ~ collected ~ ', 1, ' ~ limit_num ~ ')' -%}
    {%- endif -%}
    {{ return('array_join(' ~ collected ~ ', ' ~ delimiter_text ~ ')') }}
{%- endmacro %}
