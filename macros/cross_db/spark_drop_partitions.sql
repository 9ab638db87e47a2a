{% macro spark_drop_partitions(relation, dates, column='event_date') -%}
    {%- if dates -%}
        alter table {{ relation }} drop if exists
        {%- for value in dates %}
            partition ({{ column }} = {{ dbt.string_literal(value) }})
            {{- "," if not loop.last }}
        {%- endfor %}
    {%- endif -%}
{%- endmacro %}
