{% macro as_of_window(
    upstream_name, lookback_seconds, timestamp_column='event_at',
    partition_column='event_date'
) -%}
    {%- set datetime = modules.datetime -%}
    {%- set empty = {'as_of': as_of_literal(none), 'dates': []} -%}
    {%- if lookback_seconds is not number or lookback_seconds <= 0 -%}
        {{ exceptions.raise_compiler_error(
            "as_of_window: expected lookback_seconds as a positive number,"
            ~ " got '" ~ lookback_seconds ~ "'") }}
    {%- endif -%}

    {%- set override = var('features_as_of', none) -%}
    {%- if override is not none and (override | string) != '' -%}
        {%- set text = (override | string) | replace('Z', '+00:00') -%}
        {%- set pattern = '^[0-9]{4}-[0-9]{2}-[0-9]{2}'
            ~ '([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,6})?)?)?'
            ~ '([+-][0-9]{2}(:?[0-9]{2})?)?$' -%}
        {%- if not modules.re.match(pattern, text) -%}
            {{ exceptions.raise_compiler_error(
                "as_of_window: expected var features_as_of as an ISO 8601"
                ~ " date or timestamp (2026-01-10, 2026-01-10 12:00:00+00),"
                ~ " got '" ~ override ~ "'") }}
        {%- endif -%}
        {%- set as_of = datetime.datetime.fromisoformat(text) -%}
    {%- elif not execute -%}
        {{ return(empty) }}
    {%- else -%}
        {%- set newest_date = newest_partition(upstream_name, partition_column) -%}
        {%- if newest_date is none -%}
            {{ return(empty) }}
        {%- endif -%}
        {%- set as_of = run_query(
            'select max(' ~ timestamp_column ~ ') from '
            ~ lake_table(upstream_name, [newest_date]) ~ ' as newest'
        ).columns[0].values()[0] -%}
        {%- if as_of is none -%}
            {{ return(empty) }}
        {%- endif -%}
    {%- endif -%}

    {%- set utc = modules.pytz.utc -%}
    {%- if as_of.tzinfo is none -%}
        {%- set as_of = as_of.replace(tzinfo=utc) -%}
    {%- else -%}
        {%- set as_of = as_of.astimezone(utc) -%}
    {%- endif -%}
    {%- set first_date = (as_of - datetime.timedelta(
        seconds=lookback_seconds)).date() -%}
    {%- set dates = [] -%}
    {%- for offset in range((as_of.date() - first_date).days + 1) -%}
        {%- do dates.append(
            (first_date + datetime.timedelta(days=offset)).isoformat()) -%}
    {%- endfor -%}
    {{ return({'as_of': as_of_literal(as_of), 'dates': dates}) }}
{%- endmacro %}

{% macro as_of_literal(value) -%}
    {{ return(adapter.dispatch('as_of_literal')(value)) }}
{%- endmacro %}

{% macro default__as_of_literal(value) -%}
    {%- if value is none -%}
        {{ return('cast(null as timestamp with time zone)') }}
    {%- endif -%}
    {{ return("cast('" ~ value.isoformat(sep=' ') ~ "' as timestamp with"
        ~ " time zone)") }}
{%- endmacro %}

{% macro spark__as_of_literal(value) -%}
    {%- if value is none -%}
        {{ return('cast(null as timestamp)') }}
    {%- endif -%}
    {{ return("cast('" ~ value.isoformat(sep=' ') ~ "' as timestamp)") }}
{%- endmacro %}

{#- The newest partition date (YYYY-MM-DD) holding rows of a model, or none. -#}
{% macro newest_partition(model_name, partition_column='event_date') -%}
    {%- if load_relation(ref(model_name)) is none -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(adapter.dispatch('newest_partition')(model_name, partition_column)) }}
{%- endmacro %}

{#- DuckLake keeps each file's partition value in its catalog. -#}
{% macro default__newest_partition(model_name, partition_column) -%}
    {{ return(run_query(
        'select cast(max(' ~ partition_column ~ ') as ' ~ dbt.type_string()
        ~ ') from ' ~ ref(model_name)).columns[0].values()[0]) }}
{%- endmacro %}

{% macro spark__newest_partition(model_name, partition_column) -%}
    {%- set state = lake_partitions_state(model_name) -%}
    {%- if load_relation(state) is none -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(run_query(
        'select cast(max(' ~ partition_column ~ ') as ' ~ dbt.type_string()
        ~ ') from ' ~ state ~ ' where rows_written > 0'
    ).columns[0].values()[0]) }}
{%- endmacro %}
