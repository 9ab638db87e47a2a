{#-
    The partition dates (YYYY-MM-DD strings) of a lake_partitions model
    (`upstream_name`, which the calling model must ref) written since the
    calling model last consumed them: every date on a full build, only the
    rewritten ones on an incremental run. Read at run time, so the caller can
    filter on them as literals and the lake's files are pruned by date. Pair
    it with the post-hook record_consumed_partitions(upstream_name), which
    moves the watermark in the same transaction as the data.
-#}
{% macro changed_partitions(upstream_name) -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- if (ref(upstream_name) | string).startswith('__dbt__cte__') -%}
        {{ exceptions.raise_compiler_error(
            "changed_partitions: '" ~ upstream_name ~ "' is a unit test"
            ~ " fixture, which has no state table: override the macro in the"
            ~ " unit test (overrides: macros: {changed_partitions: ["
            ~ "'YYYY-MM-DD', ...]})") }}
    {%- endif -%}
    {%- set state = lake_partitions_state(upstream_name) -%}
    {%- if load_relation(state) is none -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set query -%}
        select cast(event_date as {{ dbt.type_string() }})
        from {{ state }}
        {%- if is_incremental() %}
        where built_at > coalesce(
            (
                select max(consumed_through)
                from control.model_watermarks
                where
                    model_name = '{{ this.identifier }}'
                    and upstream_name = '{{ upstream_name }}'
            ),
            cast('1970-01-01' as {{ type_instant() }})
        )
        {%- endif %}
        order by 1
    {%- endset -%}
    {{ return(run_query(query).columns[0].values() | list) }}
{%- endmacro %}
