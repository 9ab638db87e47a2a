{% macro erase_subjects(
    request_ids, dry_run=false, lake_partitions={}, recompute_requests=[],
    pass_id='manual'
) -%}
    {%- if dry_run is sameas false -%}
        {#- It publishes what it leaves: never a build that failed. -#}
        {%- do assert_build_published() -%}
    {%- endif -%}
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
    {%- set found_in = {} -%}
    {%- set marks = [] -%}
    {%- set nodes = [] -%}
    {%- for node in graph.nodes.values()
        if node.resource_type in ['model', 'snapshot', 'seed']
        and node.package_name == project_name
        and (node.config.meta.get('subject_key')
            or node.config.meta.get('erasure', {}).get('recompute_from')) -%}
        {%- do nodes.append(node) -%}
    {%- endfor -%}

    {#- Subject-keyed objects first: the requests found in each are
        recomputed in the rollups reading it. -#}
    {%- for node in nodes if node.config.meta.get('subject_key') -%}
        {%- set meta = node.config.meta -%}
        {%- set materialized = node.config.materialized -%}
        {%- set relation = adapter.get_relation(
            database=node.database, schema=node.schema,
            identifier=node.alias) -%}
        {%- if materialized in ['view', 'ephemeral'] -%}
            {%- if not dry_run -%}
                {%- do run_query(erasure_confirmation_insert(
                    subjects, node.name, 'confirmed',
                    ('an ' if materialized == 'ephemeral' else 'a ') ~ materialized ~ ' stores no rows', pass_id)) -%}
            {%- endif -%}
        {%- elif materialized == 'lake_partitions' -%}
            {%- set erased = erase_lake_partitions(
                node, relation, subjects, lake_partitions.get(node.name, []),
                dry_run, pass_id) -%}
            {%- do found_in.update({node.name: erased.requests}) -%}
            {%- do marks.append((node, erased.dates)) -%}
            {%- set total.rows = total.rows + erased.rows -%}
        {%- elif relation is none -%}
            {%- if not dry_run -%}
                {%- do run_query(erasure_confirmation_insert(
                    subjects, node.name, 'confirmed',
                    'not built: holds no rows', pass_id)) -%}
            {%- endif -%}
        {%- else -%}
            {%- set erased = erase_subjects_from(
                relation, meta.subject_key,
                meta.get('subject_key_hashed', false), subjects, node.name,
                dry_run, pass_id, node.config.get('partition_by')) -%}
            {{ log("erase_subjects: " ~ relation ~ " " ~ verb ~ " "
                ~ erased.rows ~ " rows", info=True) }}
            {%- do found_in.update({node.name: erased.requests}) -%}
            {%- set total.rows = total.rows + erased.rows -%}
            {%- set total.relations = total.relations + 1 -%}
        {%- endif -%}
    {%- endfor -%}

    {#- Analysts' dev schemas (dbt_<user>) hold copies of the same tables. -#}
    {%- for schema in erasure_dev_schemas() -%}
        {%- for node in nodes if node.config.meta.get('subject_key')
            and node.config.materialized not in ['view', 'ephemeral'] -%}
            {%- set relation = adapter.get_relation(
                database=node.database, schema=schema,
                identifier=node.alias) -%}
            {%- if relation is not none and relation.type == 'table' -%}
                {%- set erased = erase_subjects_from(
                    relation, node.config.meta.subject_key,
                    node.config.meta.get('subject_key_hashed', false),
                    subjects, schema ~ '.' ~ node.name, dry_run, pass_id) -%}
                {{ log("erase_subjects: " ~ relation ~ " " ~ verb ~ " "
                    ~ erased.rows ~ " rows", info=True) }}
                {%- set total.rows = total.rows + erased.rows -%}
                {%- set total.relations = total.relations + 1 -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}

    {#- Rollups: aggregates of the subjects, recomputed by the next build. -#}
    {%- for node in nodes if not node.config.meta.get('subject_key') -%}
        {%- set upstream = node.config.meta.erasure.recompute_from -%}
        {%- set recompute = (recompute_requests | list)
            + found_in.get(upstream, []) -%}
        {%- if not dry_run -%}
            {%- do run_query(erasure_confirmation_insert(
                subjects, node.name, 'pending',
                'recomputes the dates whose rows were deleted from '
                ~ upstream ~ ' on the next dbt build', pass_id,
                only=recompute | unique | list)) -%}
            {%- do run_query(erasure_confirmation_insert(
                subjects, node.name, 'confirmed',
                'no facts of the subject in ' ~ upstream, pass_id,
                exclude=recompute | unique | list)) -%}
        {%- endif -%}
        {{ log("erase_subjects: " ~ node.name ~ " recomputes from "
            ~ upstream ~ " for " ~ recompute | unique | list | length
            ~ " request(s)", info=True) }}
    {%- endfor -%}

    {#- Marked last: a rollup's pending step must not be younger than the
        mark it waits for (on Spark each statement has its own clock). -#}
    {%- if not dry_run -%}
        {%- for node, dates in marks -%}
            {%- do mark_partitions_rewritten(node, dates) -%}
        {%- endfor -%}
        {%- do adapter.commit() -%}
        {%- do publish_build() -%}
    {%- endif -%}
    {{ log("erase_subjects: " ~ verb ~ " " ~ total.rows ~ " rows in "
        ~ total.relations ~ " tables for " ~ request_ids | length
        ~ " request(s)" ~ (" (dry run)" if dry_run else ""), info=True) }}
{%- endmacro %}


{#-
    The analysts' development schemas (the dev target's dbt_<user>) of the
    lakehouse the production build writes into: their tables are copies of
    the models, erased with them. None elsewhere (Spark).
-#}
{% macro erasure_dev_schemas() -%}
    {{ return(adapter.dispatch('erasure_dev_schemas')()) }}
{%- endmacro %}

{% macro default__erasure_dev_schemas() -%}
    {{ return([]) }}
{%- endmacro %}

{% macro duckdb__erasure_dev_schemas() -%}
    {%- set query -%}
        select schema_name
        from duckdb_schemas()
        where database_name = {{ dbt.string_literal(target.database) }}
            and starts_with(schema_name, 'dbt_')
            and schema_name <> {{ dbt.string_literal(target.schema) }}
        order by 1
    {%- endset -%}
    {{ return(run_query(query).columns[0].values() | list) }}
{%- endmacro %}


{#-
    Spark's lake_partitions model's part of the erasure (the
    materialization exists on Spark only): its partitions holding a subject
    are rewritten here, without the subjects (its Parquet table has no
    DELETE). Returns {rows, requests, dates}: the rows deleted, the
    requests they were of, and the dates to mark written now in its state
    table (erase_subjects marks them last), those and the ones the lake
    pass rewrote, if it ran.
-#}
{% macro erase_lake_partitions(
    node, relation, subjects, dates, dry_run, pass_id
) -%}
    {%- if relation is none -%}
        {%- if not dry_run -%}
            {%- do run_query(erasure_confirmation_insert(
                subjects, node.name, 'confirmed',
                'not built: holds no rows', pass_id)) -%}
        {%- endif -%}
        {{ return({'rows': 0, 'requests': [], 'dates': dates}) }}
    {%- endif -%}
    {%- set erased = erase_subjects_from(
        relation, node.config.meta.subject_key,
        node.config.meta.get('subject_key_hashed', false), subjects,
        node.name, dry_run, pass_id,
        node.config.get('partition_by', 'event_date')) -%}
    {{ log("erase_subjects: " ~ relation ~ (" would rewrite " if dry_run
        else " rewrote ") ~ erased.partitions | length ~ " partition(s) without "
        ~ erased.rows ~ " rows", info=True) }}
    {{ return({'rows': erased.rows, 'requests': erased.requests,
        'dates': (erased.partitions + dates) | unique | sort | list}) }}
{%- endmacro %}


{#-
    Marks a lake_partitions model's dates written now in its state table
    (Spark: those state partitions are rewritten; nothing when the state
    table does not exist), so the models reading its changed partitions
    recompute them.
-#}
{% macro mark_partitions_rewritten(node, dates) -%}
    {%- set state = lake_partitions_state_relation(api.Relation.create(
        database=node.database, schema=node.schema, identifier=node.alias)) -%}
    {%- set partition_by = node.config.get('partition_by', 'event_date') -%}
    {%- if dates and load_relation(state) is not none -%}
        {%- do spark_rewrite_table(
            state,
            "select input_changed_at, current_timestamp() as built_at,"
            ~ " rows_written, files_written, invocation_id, " ~ partition_by
            ~ " from " ~ state ~ " where "
            ~ partition_filter(partition_by, dates),
            partition_by, dates) -%}
    {%- endif -%}
{%- endmacro %}


{#-
    Counts per request (and partition, with partition_by) a subject-keyed
    table's rows, deletes them, and confirms per request. Returns {rows,
    requests, partitions}: rows found, the requests and partitions they
    were in.
-#}
{% macro erase_subjects_from(
    relation, subject_key, hashed, subjects, object_name, dry_run, pass_id,
    partition_by=none
) -%}
    {%- set key = 'erased.' ~ adapter.quote(subject_key) -%}
    {%- set hashed_key = key if hashed else subject_hash(key) -%}
    {%- set counts -%}
        select
            subjects.request_id,
            {{ 'cast(erased.partition_value as ' ~ dbt.type_string() ~ ')'
                if partition_by else 'null' }} as partition_value,
            count(erased.subject_hash) as rows_found
        from {{ subjects }} as subjects
        left join (
            select
                {{ hashed_key }} as subject_hash
                {%- if partition_by %},
                erased.{{ partition_by }} as partition_value
                {%- endif %}
            from {{ relation }} as erased
        ) as erased
            on subjects.subject_hash = erased.subject_hash
        group by 1, 2
    {%- endset -%}
    {%- set found = {} -%}
    {%- set partitions = [] -%}
    {%- for row in run_query(counts).rows -%}
        {%- do found.update({
            row[0]: found.get(row[0], 0) + row[2] | int}) -%}
        {%- if row[1] is not none and row[1] | string not in partitions -%}
            {%- do partitions.append(row[1] | string) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set rows = found.values() | sum -%}
    {%- if not dry_run and rows > 0 -%}
        {%- do erase_rows(
            relation, hashed_key, subjects, partition_by, partitions | sort) -%}
    {%- endif -%}
    {%- if not dry_run -%}
        {%- do run_query(erasure_confirmations_found(
            found, object_name, 'rows deleted from ' ~ relation.identifier,
            pass_id)) -%}
    {%- endif -%}
    {%- set requests = [] -%}
    {%- for request_id, request_rows in found | dictsort
        if request_rows > 0 -%}
        {%- do requests.append(request_id) -%}
    {%- endfor -%}
    {{ return({
        'rows': rows, 'requests': requests, 'partitions': partitions | sort}) }}
{%- endmacro %}


{#- Deletes the subjects' rows (hashed_key is a column of alias `erased`). -#}
{% macro erase_rows(relation, hashed_key, subjects, partition_by, partitions) -%}
    {{ return(adapter.dispatch('erase_rows')(
        relation, hashed_key, subjects, partition_by, partitions)) }}
{%- endmacro %}

{% macro default__erase_rows(
    relation, hashed_key, subjects, partition_by, partitions
) -%}
    {%- do run_query(
        "delete from " ~ relation ~ " as erased where " ~ hashed_key
        ~ " in (select subject_hash from " ~ subjects ~ ")") -%}
{%- endmacro %}

{#- Spark: the partitions holding a subject (or the table) are rewritten. -#}
{% macro spark__erase_rows(
    relation, hashed_key, subjects, partition_by, partitions
) -%}
    {%- set keep_sql -%}
        select erased.*
        from {{ relation }} as erased
        left anti join {{ subjects }} as subjects
            on {{ hashed_key }} = subjects.subject_hash
        {%- if partition_by %}
        where {{ partition_filter('erased.' ~ partition_by, partitions) }}
        {%- endif %}
    {%- endset -%}
    {%- do spark_rewrite_table(relation, keep_sql, partition_by, partitions) -%}
{%- endmacro %}
