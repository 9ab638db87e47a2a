{% macro partition_filter(column, dates) -%}
    {%- if dates | length == 0 -%}
        false
    {%- else -%}
        {{ column }} in (
        {%- for value in dates -%}
            {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$',
                value | string) -%}
                {{ exceptions.raise_compiler_error(
                    "partition_filter: expected YYYY-MM-DD dates, got '"
                    ~ value ~ "'") }}
            {%- endif -%}
            cast('{{ value }}' as date){{ ", " if not loop.last }}
        {%- endfor -%}
        )
    {%- endif -%}
{%- endmacro %}
