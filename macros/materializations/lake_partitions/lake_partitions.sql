{#-
    A table that lives in the lake as date-partitioned Parquet
    (<location>/<partition_by>=YYYY-MM-DD/data_N.parquet), exposed in the
    warehouse as a view over those files.

    Each build rewrites only the partitions whose input changed since they
    were last written, one partition at a time: the partition is written by
    COPY into a staging folder, then swapped into place atomically by
    eventlake_swap_dir() (src/eventlake/dbt_plugin.py). A state table
    <name>__partitions records, per partition, when its input last changed,
    when it was written, and its rows and files.

    Which partitions changed is read from the model named in config
    `partitions_changed_in`: {model, changed_at, where}. That model (which the
    SQL must ref, e.g. in a `-- depends_on:` comment) has one row per input
    with the partition value and a timestamp `changed_at`; when it is itself a
    lake_partitions model, its state table is read (changed_at = built_at).

    on_schema_change: append_new_columns (default) lets new columns appear in
    new partitions while old files stay as written (the view reads by name,
    old rows read NULL); ignore keeps the existing columns; fail stops.
    sync_all_columns would rewrite history and is refused.
-#}
{% materialization lake_partitions, adapter='duckdb' %}
    {%- set partition_by = config.get('partition_by', 'event_date') -%}
    {%- set sort_by = config.get('sort_by', []) -%}
    {%- set changed_in = config.require('partitions_changed_in') -%}
    {%- set location = config.get(
        'location', var('lake_dir') ~ '/curated/' ~ this.identifier) -%}
    {%- set staging_root = var('lake_dir') ~ '/curated/.staging/'
        ~ this.identifier ~ '/' ~ invocation_id -%}
    {%- set on_schema_change = config.get(
        'on_schema_change', 'append_new_columns') -%}
    {%- set file_size = config.get('file_size', '256MB') -%}
    {%- set row_group_size = config.get('row_group_size', 122880) -%}

    {%- if on_schema_change not in ['append_new_columns', 'ignore', 'fail'] -%}
        {{ exceptions.raise_compiler_error(
            "lake_partitions: on_schema_change must be append_new_columns,"
            ~ " ignore or fail (old partitions are never rewritten), got '"
            ~ on_schema_change ~ "'") }}
    {%- endif -%}

    {%- set state = this.incorporate(path={
        'identifier': this.identifier ~ '__partitions'}) -%}
    {%- set existing = adapter.get_relation(
        database=this.database, schema=this.schema,
        identifier=this.identifier) -%}
    {%- set existing_state = adapter.get_relation(
        database=state.database, schema=state.schema,
        identifier=state.identifier) -%}
    {%- set full_refresh = should_full_refresh() or existing is none
        or existing_state is none -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}

    {#- Columns of the new build against those the table already has. -#}
    {%- set model_sql = sql -%}
    {%- set new_columns = lake_partitions_columns(model_sql) -%}
    {%- if partition_by not in new_columns -%}
        {{ exceptions.raise_compiler_error(
            "lake_partitions: expected the model to select its partition"
            ~ " column '" ~ partition_by ~ "', got " ~ new_columns | join(', ')
        ) }}
    {%- endif -%}
    {%- set written_columns = new_columns -%}
    {%- set view_columns = new_columns -%}
    {%- if not full_refresh -%}
        {%- set old_columns = adapter.get_columns_in_relation(existing)
            | map(attribute='name') | list -%}
        {%- set added = new_columns | reject('in', old_columns) | list -%}
        {%- set view_columns = old_columns + added -%}
        {%- if added and on_schema_change == 'fail' -%}
            {{ exceptions.raise_compiler_error(
                "lake_partitions: " ~ this.identifier ~ " gained columns "
                ~ added | join(', ') ~ " and on_schema_change is fail") }}
        {%- elif added and on_schema_change == 'ignore' -%}
            {%- set written_columns = new_columns | select('in', old_columns)
                | list -%}
            {%- set view_columns = old_columns -%}
        {%- elif added -%}
            {{ log("lake_partitions: " ~ this.identifier
                ~ " appends new columns " ~ added | join(', ')
                ~ "; existing partitions are not rewritten", info=True) }}
        {%- endif -%}
    {%- endif -%}
    {%- set data_columns = written_columns | reject('equalto', partition_by)
        | list -%}

    {% call statement('create_state') -%}
        {%- if full_refresh %}
        create or replace table {{ state }} (
        {%- else %}
        create table if not exists {{ state }} (
        {%- endif %}
            {{ partition_by }} date primary key,
            input_changed_at timestamp with time zone,
            built_at timestamp with time zone,
            rows_written bigint,
            files_written integer,
            invocation_id varchar
        )
    {%- endcall %}

    {#- The partitions to write: their input changed since last written. -#}
    {%- set changes = lake_partitions_changes(changed_in, partition_by) -%}
    {%- set plan_sql -%}
        select
            changes.{{ partition_by }},
            changes.changed_at
        from ({{ changes }}) as changes
        {%- if not full_refresh %}
        left join {{ state }} as state
            on changes.{{ partition_by }} = state.{{ partition_by }}
        where state.input_changed_at is null
            or changes.changed_at > state.input_changed_at
        {%- endif %}
        order by 1
    {%- endset -%}
    {%- set plan = run_query(plan_sql) -%}
    {{ log("lake_partitions: " ~ this.identifier ~ " writes "
        ~ plan.rows | length ~ " partition(s)"
        ~ (" (full refresh)" if full_refresh else ""), info=True) }}

    {%- if full_refresh -%}
        {%- set target_root = staging_root ~ '/table' -%}
    {%- else -%}
        {%- set target_root = location -%}
    {%- endif -%}
    {%- set total = namespace(rows=0) -%}
    {% do run_query("select eventlake_make_dirs("
        ~ dbt.string_literal(staging_root) ~ ")") %}

    {%- for row in plan.rows -%}
        {%- set value = row[0] | string -%}
        {%- set folder = partition_by ~ '=' ~ value -%}
        {%- set staged = staging_root ~ '/' ~ folder -%}
        {%- set written = run_query(lake_partitions_copy(
            model_sql, data_columns, partition_by, value, sort_by, staged,
            file_size, row_group_size)) -%}
        {%- set rows = written.columns[0].values()[0] -%}
        {%- set swapped = run_query(
            "select eventlake_swap_dir(" ~ dbt.string_literal(staged) ~ ", "
            ~ dbt.string_literal(target_root ~ '/' ~ folder) ~ ")") -%}
        {%- set files = swapped.columns[0].values()[0] -%}
        {% call statement('record_' ~ loop.index) -%}
            insert or replace into {{ state }} values (
                date '{{ value }}',
                timestamptz '{{ row[1] }}',
                current_timestamp,
                {{ rows }},
                {{ files }},
                '{{ invocation_id }}'
            )
        {%- endcall %}
        {%- set total.rows = total.rows + rows -%}
    {%- endfor -%}

    {#- A full refresh swaps the whole table folder in at once. -#}
    {%- if full_refresh and plan.rows | length > 0 -%}
        {% do run_query("select eventlake_swap_dir("
            ~ dbt.string_literal(target_root) ~ ", "
            ~ dbt.string_literal(location) ~ ")") %}
    {%- elif full_refresh -%}
        {% do run_query("select eventlake_remove_dir("
            ~ dbt.string_literal(location) ~ ")") %}
    {%- endif -%}
    {% do run_query("select eventlake_remove_dir("
        ~ dbt.string_literal(staging_root) ~ ")") %}

    {% call statement('main') -%}
        {{ lake_partitions_view(this, location, model_sql, view_columns,
            partition_by) }}
    {%- endcall %}

    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {% do adapter.commit() %}
    {{ return({'relations': [this]}) }}
{% endmaterialization %}
