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
