{#-
    Run after a dbt build by `eventlake erasure process`: a rollup's pending
    erasure step is confirmed once the rollup has consumed its upstream's
    partitions through the moment erase_subjects marked them rewritten
    (control.model_watermarks), i.e. the affected dates were recomputed
    without the subjects. Appends the confirmations; returns nothing.
-#}
{% macro confirm_erasure_recomputes() -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model'
        and node.package_name == project_name
        and node.config.meta.get('erasure', {}).get('recompute_from') -%}
        {%- set upstream = node.config.meta.erasure.recompute_from -%}
        {%- set confirmed = run_query(
            "insert into control.erasure_confirmations"
            ~ " select pending.request_id, pending.store, pending.object,"
            ~ " null, null, 'confirmed', watermarks.updated_at,"
            ~ " 'affected dates recomputed from " ~ upstream ~ "',"
            ~ " current_timestamp, pending.pass_id"
            ~ " from control.erasure_store_status as pending"
            ~ " inner join control.model_watermarks as watermarks"
            ~ " on watermarks.model_name = "
            ~ dbt.string_literal(node.alias)
            ~ " and watermarks.upstream_name = "
            ~ dbt.string_literal(upstream)
            ~ " where pending.store = 'warehouse'"
            ~ " and pending.object = " ~ dbt.string_literal(node.name)
            ~ " and pending.status = 'pending'"
            ~ " and watermarks.consumed_through >= pending.recorded_at"
            ~ " returning request_id") -%}
        {{ log("confirm_erasure_recomputes: " ~ node.name ~ " confirmed "
            ~ confirmed.rows | length ~ " request(s)", info=True) }}
    {%- endfor -%}
    {%- do adapter.commit() -%}
{%- endmacro %}
