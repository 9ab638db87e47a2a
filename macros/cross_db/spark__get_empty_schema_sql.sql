{#-
    Contracts on Spark: the models' yml declares DuckDB types (the project's
    first target). dbt checks a contract by comparing the model's columns
    with an empty select cast to the declared types; on Spark the DuckDB
    names are translated first (varchar -> string, timestamp with time
    zone -> timestamp, float -> double: dbt.type_float() there), so one
    declaration serves both targets.
-#}
{% macro spark__get_empty_schema_sql(columns) -%}
    {%- set translated = {} -%}
    {%- for name, column in columns.items() -%}
        {%- set spark_column = column.copy() -%}
        {%- if column.get('data_type') -%}
            {%- do spark_column.update({'data_type': spark_contract_type(
                column['data_type'])}) -%}
        {%- endif -%}
        {%- do translated.update({name: spark_column}) -%}
    {%- endfor -%}
    {{ return(default__get_empty_schema_sql(translated)) }}
{%- endmacro %}

{#- A DuckDB type name as Spark spells it (others pass unchanged). -#}
{% macro spark_contract_type(data_type) -%}
    {%- set names = {
        'varchar': 'string',
        'text': 'string',
        'timestamp with time zone': 'timestamp',
        'timestamptz': 'timestamp',
        'float': 'double',
        'hugeint': 'decimal(38, 0)',
    } -%}
    {{ return(names.get(data_type | trim | lower, data_type)) }}
{%- endmacro %}
