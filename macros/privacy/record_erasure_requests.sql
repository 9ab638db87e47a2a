{% macro record_erasure_requests(requests, window_days=30) -%}
    {%- set id_pattern = request_id_pattern() -%}
    {%- set hash_pattern = '^[0-9a-f]{64}$' -%}
    {%- if requests is string or requests is not iterable
        or requests | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            "record_erasure_requests: expected requests as a non-empty list"
            ~ " of {request_id, subject_hash}, got '" ~ requests ~ "'") }}
    {%- endif -%}
    {%- for request in requests
        if request is not mapping
        or not modules.re.match(id_pattern, request.get('request_id') | string)
        or not modules.re.match(hash_pattern,
            request.get('subject_hash') | string) -%}
        {{ exceptions.raise_compiler_error(
            "record_erasure_requests: rejected '" ~ (request | string)[:80]
            ~ "': expected {request_id: letters, digits and ._:- (at most"
            ~ " 128), subject_hash: 64 lowercase hex digits}; nothing was"
            ~ " recorded") }}
    {%- endfor -%}
    {%- if window_days is not number or window_days < 1 -%}
        {{ exceptions.raise_compiler_error(
            "record_erasure_requests: expected window_days as a positive"
            ~ " number, got '" ~ window_days ~ "'") }}
    {%- endif -%}

    {%- set unique_requests = {} -%}
    {%- for request in requests -%}
        {%- do unique_requests.update({request.request_id: request}) -%}
    {%- endfor -%}
    {%- set received -%}
        {%- for request in unique_requests.values() %}
        select
            {{ dbt.string_literal(request.request_id) }} as request_id,
            {{ dbt.string_literal(request.subject_hash) }} as subject_hash
        {{- "\n        union all" if not loop.last }}
        {%- endfor %}
    {%- endset -%}
    {%- set conflicting = run_query(
        "select recorded.request_id from control.erasure_requests as recorded"
        ~ " inner join (" ~ received ~ ") as received"
        ~ " on recorded.request_id = received.request_id"
        ~ " where recorded.subject_hash <> received.subject_hash"
    ).columns[0].values() | list -%}
    {%- if conflicting -%}
        {{ exceptions.raise_compiler_error(
            "record_erasure_requests: request id(s) " ~ conflicting | join(', ')
            ~ " already recorded for another subject; nothing was recorded")
        }}
    {%- endif -%}
    {%- do run_query(
        "insert into control.erasure_requests"
        ~ " select received.request_id, received.subject_hash,"
        ~ " cast(null as " ~ type_instant() ~ "), current_timestamp, "
        ~ dbt.dateadd('day', window_days | int, 'current_timestamp')
        ~ " from (" ~ received ~ ") as received"
        ~ " where received.request_id not in"
        ~ " (select request_id from control.erasure_requests)") -%}
    {%- do run_query(
        "insert into control.erasure_suppressions"
        ~ " select distinct received.subject_hash, current_timestamp"
        ~ " from (" ~ received ~ ") as received"
        ~ " where received.subject_hash not in"
        ~ " (select subject_hash from control.erasure_suppressions)") -%}
    {%- do adapter.commit() -%}
    {{ log("record_erasure_requests: " ~ requests | length
        ~ " request(s) recorded and their subjects suppressed", info=True) }}
{%- endmacro %}
