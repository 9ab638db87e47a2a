{% macro erasure_confirmations_since(since) -%}
    {%- set pattern = '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,6})?$' -%}
    {%- if since is not string or not modules.re.match(pattern, since) -%}
        {{ exceptions.raise_compiler_error(
            "erasure_confirmations_since: expected since as 'YYYY-MM-DD"
            ~ " HH:MM:SS[.ffffff]' (UTC), got '" ~ (since | string)[:40] ~ "'")
        }}
    {%- endif -%}
    select
        request_id,
        store,
        object,
        rows_deleted,
        files_rewritten,
        status,
        {{ erasure_instant_text('confirmed_at') }} as confirmed_at,
        detail,
        {{ erasure_instant_text('recorded_at') }} as recorded_at,
        pass_id
    from control.erasure_confirmations
    where recorded_at >= cast({{ dbt.string_literal(since) }} as {{ type_instant() }})
    order by recorded_at, request_id, store, object
{%- endmacro %}


{#- An instant column as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC (the session's zone). -#}
{% macro erasure_instant_text(column) -%}
    {{ return(adapter.dispatch('erasure_instant_text')(column)) }}
{%- endmacro %}

{% macro default__erasure_instant_text(column) -%}
    strftime({{ column }}, '%Y-%m-%d %H:%M:%S.%f')
{%- endmacro %}

{% macro spark__erasure_instant_text(column) -%}
    date_format({{ column }}, 'yyyy-MM-dd HH:mm:ss.SSSSSS')
{%- endmacro %}
