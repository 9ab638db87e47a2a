{% macro confirm_erasure_recomputes() -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model'
        and node.package_name == project_name
        and node.config.meta.get('erasure', {}).get('recompute_from') -%}
        {%- set upstream = node.config.meta.erasure.recompute_from -%}
        {%- set confirmable -%}
            select
                pending.request_id, pending.store, pending.object,
                cast(null as bigint), cast(null as integer), 'confirmed',
                watermarks.updated_at,
                {{ dbt.string_literal(
                    'affected dates recomputed from ' ~ upstream) }},
                current_timestamp, pending.pass_id
            from control.erasure_store_status as pending
            inner join (
                {#- Spark's watermarks are appended: the newest counts. -#}
                select
                    max(consumed_through) as consumed_through,
                    max(updated_at) as updated_at
                from control.model_watermarks
                where model_name = {{ dbt.string_literal(node.alias) }}
                    and upstream_name = {{ dbt.string_literal(upstream) }}
            ) as watermarks
                on watermarks.consumed_through >= pending.recorded_at
            where pending.store = 'warehouse'
                and pending.object = {{ dbt.string_literal(node.name) }}
                and pending.status = 'pending'
        {%- endset -%}
        {#- Counted, then inserted: Spark has no INSERT … RETURNING. -#}
        {%- set confirmed = run_query(confirmable) -%}
        {%- if confirmed.rows | length > 0 -%}
            {%- do run_query(
                "insert into control.erasure_confirmations " ~ confirmable) -%}
        {%- endif -%}
        {{ log("confirm_erasure_recomputes: " ~ node.name ~ " confirmed "
            ~ confirmed.rows | length ~ " request(s)", info=True) }}
    {%- endfor -%}
    {%- do adapter.commit() -%}
{%- endmacro %}


{% macro confirm_erasure_recomputes_after_build(results) -%}
    {#- on-run-end: a production `dbt build` on the lakehouse (the scheduled
        one, an erasure pass's) whose every node passed confirms the
        recomputes it made; a failed build confirms nothing and publishes
        nothing, so the steps stay pending until a build passes. (The erasure
        pass on Spark runs confirm_erasure_recomputes after its build.) -#}
    {%- if not execute or flags.WHICH != 'build' or target.type != 'duckdb'
        or target.schema != var('build_schema') -%}
        {{ return('') }}
    {%- endif -%}
    {%- set failed = failed_nodes(results) -%}
    {%- if failed -%}
        {{ log("confirm_erasure_recomputes: nothing confirmed, failed: "
            ~ failed | join(', '), info=True) }}
    {%- else -%}
        {%- do confirm_erasure_recomputes() -%}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}
