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

    Writing partition D, every lake glob of the model's SQL that spans all
    partitions (`.../<partition_by>=*/...`) is narrowed to D's folder, so a
    build reads the files (and the footers) of the partitions it writes and
    no others: its cost follows the data that changed, not the history.

    on_schema_change: append_new_columns (default) lets new columns appear in
    new partitions while old files stay as written (the view reads by name,
    old rows read NULL); ignore keeps the existing columns; fail stops.
    sync_all_columns would rewrite history and is refused.
-#}
{% materialization lake_partitions, adapter='duckdb' %}
    {%- set partition_by = config.get('partition_by', 'event_date') -%}
    {%- set sort_by = config.get('sort_by', []) -%}
    {%- set changed_in = config.require('partitions_changed_in') -%}
    {%- set location = lake_partitions_location(model) -%}
    {%- set staging_root = var('lake_dir') ~ '/curated/.staging/'
        ~ this.identifier ~ '/' ~ invocation_id -%}
    {%- set on_schema_change = config.get(
        'on_schema_change', 'append_new_columns') -%}
    {%- set file_size = config.get('file_size', '256MB') -%}
    {%- set row_group_size = config.get(
        'row_group_size', var('lake_row_group_size', 122880)) -%}

    {%- do lake_partitions_check_on_schema_change(on_schema_change) -%}

    {%- set state = this.incorporate(path={
        'identifier': this.identifier ~ '__partitions'}) -%}
    {%- set existing = load_relation(this) -%}
    {%- set full_refresh = should_full_refresh() or existing is none
        or load_relation(state) is none -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}

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
    {%- set plan = run_query(lake_partitions_plan(
        changed_in, partition_by, state, full_refresh)) -%}
    {{ log("lake_partitions: " ~ this.identifier ~ " writes "
        ~ plan.rows | length ~ " partition(s)"
        ~ (" (full refresh)" if full_refresh else ""), info=True) }}

    {#- Columns: those the table has, plus what new partitions bring. -#}
    {%- set old_columns = [] -%}
    {%- if not full_refresh -%}
        {%- set old_columns = adapter.get_columns_in_relation(existing)
            | map(attribute='name') | list -%}
    {%- endif -%}
    {%- set view = namespace(columns=old_columns, changed=full_refresh) -%}
    {%- set target_root = staging_root ~ '/table' if full_refresh
        else location -%}
    {% do run_query("select eventlake_make_dirs("
        ~ dbt.string_literal(staging_root) ~ ")") %}

    {%- for row in plan.rows -%}
        {%- set value = row[0] -%}
        {%- set folder = partition_by ~ '=' ~ value -%}
        {%- set partition_sql = model_sql_for_partition(
            sql, partition_by, value) -%}
        {%- set columns = lake_partitions_columns(partition_sql) -%}
        {%- if partition_by not in columns -%}
            {{ exceptions.raise_compiler_error(
                "lake_partitions: expected the model to select its partition"
                ~ " column '" ~ partition_by ~ "', got " ~ columns | join(', ')
            ) }}
        {%- endif -%}
        {%- set added = columns | reject('in', view.columns) | list -%}
        {%- if added and not full_refresh and on_schema_change == 'fail' -%}
            {{ exceptions.raise_compiler_error(
                "lake_partitions: " ~ this.identifier ~ " gained columns "
                ~ added | join(', ') ~ " and on_schema_change is fail") }}
        {%- elif added and not full_refresh
            and on_schema_change == 'ignore' -%}
            {%- set columns = columns | select('in', view.columns) | list -%}
        {%- elif added -%}
            {%- if not full_refresh -%}
                {{ log("lake_partitions: " ~ this.identifier
                    ~ " appends new columns " ~ added | join(', ')
                    ~ "; existing partitions are not rewritten", info=True) }}
            {%- endif -%}
            {%- set view.columns = view.columns + added -%}
            {%- set view.changed = true -%}
        {%- endif -%}

        {%- set staged = staging_root ~ '/' ~ folder -%}
        {%- set written = run_query(lake_partitions_copy(
            partition_sql, columns | reject('equalto', partition_by) | list,
            partition_by, value, sort_by, staged, file_size,
            row_group_size)) -%}
        {%- set swapped = run_query(
            "select eventlake_swap_dir(" ~ dbt.string_literal(staged) ~ ", "
            ~ dbt.string_literal(target_root ~ '/' ~ folder) ~ ")") -%}
        {% call statement('record_' ~ loop.index) -%}
            insert or replace into {{ state }} values (
                cast('{{ value }}' as date),
                cast('{{ row[1] }}' as timestamp with time zone),
                current_timestamp,
                {{ written.columns[0].values()[0] }},
                {{ swapped.columns[0].values()[0] }},
                '{{ invocation_id }}'
            )
        {%- endcall %}
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

    {#- The view is bound over every file: recreate it only when it changes. -#}
    {% call statement('main') -%}
        {%- if view.changed %}
        {{ lake_partitions_view(this, location, sql, view.columns,
            partition_by) }}
        {%- else %}
        select 1
        {%- endif %}
    {%- endcall %}

    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {% do adapter.commit() %}
    {{ return({'relations': [this, state]}) }}
{% endmaterialization %}
