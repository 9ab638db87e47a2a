{#-
    Right to erasure in the warehouse, run by `eventlake erasure process` as
    `dbt run-operation erase_subjects --args '{request_ids: [...], ...}'`
    after it rewrote the lake's files and recorded the requests.

    The subjects are read from control.erasure_requests by request id (no
    user id crosses the command line or the logs; only keyed hashes are
    compared). Walks every model, snapshot and seed of the project:
    - with meta.subject_key (the column naming the person; with
      subject_key_hashed: true the column already holds subject_hash()):
      a table's rows of the subjects are counted per request, then deleted;
      views and ephemeral models store nothing; a lake_partitions model's
      files were rewritten by the lake pass, so here the dates it rewrote
      (lake_partitions: {model: [dates]}) are marked written now in its state
      table, and every model reading its changed partitions recomputes them
      on the next build;
    - with meta.erasure.recompute_from (rollups: aggregates of the subjects
      with no subject column): the requests whose facts were deleted
      (recompute_requests) get a pending step, confirmed by
      confirm_erasure_recomputes once a build has recomputed those dates.
    One confirmation row per request and model goes to
    control.erasure_confirmations (store 'warehouse'). dry_run counts and
    logs, and changes nothing.
-#}
{% macro erase_subjects(
    request_ids, dry_run=false, lake_partitions={}, recompute_requests=[],
    pass_id='manual'
) -%}
    {%- set subjects = erasure_subjects_table(request_ids, pass_id) -%}
    {%- if dry_run not in [true, false] -%}
        {{ exceptions.raise_compiler_error(
            "erase_subjects: expected dry_run true or false, got '"
            ~ dry_run ~ "'") }}
    {%- endif -%}
    {%- set date_pattern = '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' -%}
    {%- for model_name, dates in lake_partitions.items() -%}
        {%- for value in dates
            if not modules.re.match(date_pattern, value | string) -%}
            {{ exceptions.raise_compiler_error(
                "erase_subjects: expected lake_partitions dates as"
                ~ " YYYY-MM-DD, got '" ~ value ~ "'") }}
        {%- endfor -%}
    {%- endfor -%}
    {%- for request_id in recompute_requests
        if request_id not in request_ids -%}
        {{ exceptions.raise_compiler_error(
            "erase_subjects: recompute_requests must be among request_ids,"
            ~ " got '" ~ request_id ~ "'") }}
    {%- endfor -%}
    {%- set verb = 'would delete' if dry_run else 'deleted' -%}
    {%- set total = namespace(rows=0, relations=0) -%}

    {%- for node in graph.nodes.values()
        if node.resource_type in ['model', 'snapshot', 'seed']
        and node.package_name == project_name
        and (node.config.meta.get('subject_key')
            or node.config.meta.get('erasure', {}).get('recompute_from')) -%}
        {%- set meta = node.config.meta -%}
        {%- set materialized = node.config.materialized -%}
        {%- set relation = adapter.get_relation(
            database=node.database, schema=node.schema,
            identifier=node.alias) -%}

        {%- if not meta.get('subject_key') -%}
            {%- set upstream = meta.erasure.recompute_from -%}
            {%- if not dry_run -%}
                {%- do run_query(erasure_confirmation_insert(
                    subjects, node.name, 'pending',
                    'recomputes the dates rewritten in ' ~ upstream
                    ~ ' on the next dbt build', pass_id,
                    only=recompute_requests)) -%}
                {%- do run_query(erasure_confirmation_insert(
                    subjects, node.name, 'confirmed',
                    'no facts of the subject in ' ~ upstream, pass_id,
                    exclude=recompute_requests)) -%}
            {%- endif -%}
            {{ log("erase_subjects: " ~ node.name ~ " recomputes from "
                ~ upstream ~ " for " ~ recompute_requests | length
                ~ " request(s)", info=True) }}
        {%- elif materialized in ['view', 'ephemeral'] -%}
            {%- if not dry_run -%}
                {%- do run_query(erasure_confirmation_insert(
                    subjects, node.name, 'confirmed',
                    ('an ' if materialized == 'ephemeral' else 'a ') ~ materialized ~ ' stores no rows', pass_id)) -%}
            {%- endif -%}
        {%- elif materialized == 'lake_partitions' -%}
            {%- set dates = lake_partitions.get(node.name, []) -%}
            {%- set state = api.Relation.create(
                database=node.database, schema=node.schema,
                identifier=node.alias ~ '__partitions') -%}
            {%- if dates and not dry_run
                and load_relation(state) is not none -%}
                {%- do run_query(
                    "update " ~ state ~ " set built_at = current_timestamp"
                    ~ " where " ~ node.config.get('partition_by', 'event_date')
                    ~ " in (" ~ erasure_date_list(dates) ~ ")") -%}
            {%- endif -%}
            {%- if not dry_run -%}
                {%- do run_query(erasure_confirmation_insert(
                    subjects, node.name, 'confirmed',
                    'lake files rewritten by the lake pass; '
                    ~ dates | length ~ ' partition(s) marked for downstream'
                    ~ ' recompute', pass_id)) -%}
            {%- endif -%}
        {%- elif relation is none -%}
            {%- if not dry_run -%}
                {%- do run_query(erasure_confirmation_insert(
                    subjects, node.name, 'confirmed',
                    'not built: holds no rows', pass_id)) -%}
            {%- endif -%}
        {%- else -%}
            {%- set found = erase_subjects_from(
                relation, meta.subject_key,
                meta.get('subject_key_hashed', false), subjects, node.name,
                dry_run, pass_id) -%}
            {{ log("erase_subjects: " ~ relation ~ " " ~ verb ~ " " ~ found
                ~ " rows", info=True) }}
            {%- set total.rows = total.rows + found -%}
            {%- set total.relations = total.relations + 1 -%}
        {%- endif -%}
    {%- endfor -%}

    {%- if not dry_run -%}
        {%- do adapter.commit() -%}
    {%- endif -%}
    {{ log("erase_subjects: " ~ verb ~ " " ~ total.rows ~ " rows in "
        ~ total.relations ~ " tables for " ~ request_ids | length
        ~ " request(s)" ~ (" (dry run)" if dry_run else ""), info=True) }}
{%- endmacro %}


{#- Count per request, then delete, a subject-keyed table's rows. -#}
{% macro erase_subjects_from(
    relation, subject_key, hashed, subjects, object_name, dry_run, pass_id
) -%}
    {%- set key = 'erased.' ~ adapter.quote(subject_key) -%}
    {%- set hashed_key = key if hashed else subject_hash(key) -%}
    {%- set counts -%}
        select
            subjects.request_id,
            count(erased.subject_hash) as rows_found
        from {{ subjects }} as subjects
        left join (
            select {{ hashed_key }} as subject_hash
            from {{ relation }} as erased
        ) as erased
            on subjects.subject_hash = erased.subject_hash
        group by subjects.request_id
    {%- endset -%}
    {#- Hash the table's key column once: count into a temporary table. -#}
    {%- do run_query(
        "create or replace temporary table erasure_counts as " ~ counts) -%}
    {%- set found = run_query(
        "select coalesce(sum(rows_found), 0) from erasure_counts"
    ).columns[0].values()[0] | int -%}
    {%- if not dry_run and found > 0 -%}
        {%- do run_query(
            "delete from " ~ relation ~ " as erased where " ~ hashed_key
            ~ " in (select subject_hash from " ~ subjects ~ ")") -%}
    {%- endif -%}
    {%- if not dry_run -%}
        {%- do run_query(
            "insert into control.erasure_confirmations"
            ~ " select request_id, 'warehouse', "
            ~ dbt.string_literal(object_name) ~ ", rows_found, null,"
            ~ " 'confirmed', current_timestamp, 'rows deleted from "
            ~ relation.identifier ~ "', current_timestamp, "
            ~ dbt.string_literal(pass_id) ~ " from erasure_counts") -%}
    {%- endif -%}
    {{ return(found) }}
{%- endmacro %}
