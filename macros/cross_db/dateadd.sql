{#-
    dbt.dateadd on Spark keeping sub-second precision: dbt-spark's version
    goes through to_unix_timestamp, which drops the fraction, so a window
    bound such as as_of - 1 day moved to the whole second before (rolling
    windows then disagreed with DuckDB on events in that second).
    timestampadd adds calendar units to the full timestamp.
-#}
{% macro spark__dateadd(datepart, interval, from_date_or_timestamp) -%}
    timestampadd({{ datepart }}, {{ interval }}, {{ from_date_or_timestamp }})
{%- endmacro %}
