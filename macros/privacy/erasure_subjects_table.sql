{#-
    Validates request ids (letters, digits and ._:-, at most 128; anything
    else, an injection payload included, stops the operation before any
    statement runs) and loads the requests' subject hashes into a temporary
    table, which it returns. Fails when an id is not in
    control.erasure_requests.
-#}
{% macro erasure_subjects_table(request_ids, pass_id) -%}
    {%- set id_pattern = request_id_pattern() -%}
    {%- if request_ids is string or request_ids is not iterable
        or request_ids | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            "erasure: expected request_ids as a non-empty list, got '"
            ~ request_ids ~ "'") }}
    {%- endif -%}
    {%- for value in [pass_id] + request_ids | list
        if value is not string or not modules.re.match(id_pattern, value) -%}
        {{ exceptions.raise_compiler_error(
            "erasure: rejected id '" ~ (value | string)[:40]
            ~ "': expected letters, digits and ._:- only (at most 128);"
            ~ " nothing was deleted") }}
    {%- endfor -%}
    {%- set subjects = api.Relation.create(identifier='erasure_subjects') -%}
    {%- do run_query(create_temporary_relation_as(
        'erasure_subjects',
        "select request_id, subject_hash from control.erasure_requests"
        ~ " where request_id in (" ~ erasure_date_list(request_ids) ~ ")")) -%}
    {%- set known = run_query(
        "select request_id from erasure_subjects").columns[0].values() -%}
    {%- set unknown = request_ids | reject('in', known) | list -%}
    {%- if unknown -%}
        {{ exceptions.raise_compiler_error(
            "erasure: unknown request id(s) " ~ unknown | join(', ')
            ~ ": record them first (eventlake erasure process); nothing was"
            ~ " deleted") }}
    {%- endif -%}
    {{ return(subjects) }}
{%- endmacro %}


{#- Quoted, comma-separated SQL string literals of already-validated values. -#}
{% macro erasure_date_list(values) -%}
    {%- set literals = [] -%}
    {%- for value in values -%}
        {%- do literals.append(dbt.string_literal(value | string)) -%}
    {%- endfor -%}
    {{ return(literals | join(', ')) }}
{%- endmacro %}


{#-
    An insert of one erasure_confirmations row per subject request (store
    'warehouse'), limited to the request ids in `only` or outside `exclude`;
    a confirmed row counts 0 rows deleted.
-#}
{% macro erasure_confirmation_insert(
    subjects, object_name, status, detail, pass_id, only=none, exclude=none
) -%}
    {%- set sql -%}
        insert into control.erasure_confirmations
        select
            request_id,
            'warehouse',
            {{ dbt.string_literal(object_name) }},
            {{ '0' if status == 'confirmed' else 'null' }},
            null,
            {{ dbt.string_literal(status) }},
            {{ 'current_timestamp' if status == 'confirmed' else 'null' }},
            {{ dbt.string_literal(detail) }},
            current_timestamp,
            {{ dbt.string_literal(pass_id) }}
        from {{ subjects }}
        where true
        {%- if only is not none and only %}
            and request_id in ({{ erasure_date_list(only) }})
        {%- elif only is not none %}
            and false
        {%- endif %}
        {%- if exclude %}
            and request_id not in ({{ erasure_date_list(exclude) }})
        {%- endif %}
    {%- endset -%}
    {{ return(sql) }}
{%- endmacro %}


{#-
    An insert of one confirmed erasure_confirmations row (store 'warehouse')
    per request of `found` ({request_id: rows deleted}); nothing for none.
-#}
{% macro erasure_confirmations_found(found, object_name, detail, pass_id) -%}
    {%- set sql -%}
        insert into control.erasure_confirmations
        {%- for request_id, rows in found | dictsort %}
        select
            {{ dbt.string_literal(request_id) }},
            'warehouse',
            {{ dbt.string_literal(object_name) }},
            cast({{ rows | int }} as bigint),
            cast(null as integer),
            'confirmed',
            current_timestamp,
            {{ dbt.string_literal(detail) }},
            current_timestamp,
            {{ dbt.string_literal(pass_id) }}
        {{- "\n        union all" if not loop.last }}
        {%- endfor %}
    {%- endset -%}
    {{ return(sql if found else "select 1") }}
{%- endmacro %}


{#- A session's temporary relation: a table on DuckDB, a view on Spark. -#}
{% macro create_temporary_relation_as(name, sql) -%}
    {{ return(adapter.dispatch('create_temporary_relation_as')(name, sql)) }}
{%- endmacro %}

{% macro default__create_temporary_relation_as(name, sql) -%}
    create or replace temporary table {{ name }} as {{ sql }}
{%- endmacro %}

{% macro spark__create_temporary_relation_as(name, sql) -%}
    create or replace temporary view {{ name }} as {{ sql }}
{%- endmacro %}
