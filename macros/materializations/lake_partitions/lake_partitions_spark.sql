{#- Explained by the lake_partitions docs block (models/docs.md). -#}
{% materialization lake_partitions, adapter='spark' %}
    {%- set partition_by = config.get('partition_by', 'event_date') -%}
    {%- set sort_by = config.get('sort_by', []) -%}
    {%- set changed_in = config.require('partitions_changed_in') -%}
    {%- set location = lake_partitions_location(model) -%}
    {%- set on_schema_change = config.get(
        'on_schema_change', 'append_new_columns') -%}
    {%- do lake_partitions_check_on_schema_change(on_schema_change) -%}

    {%- set state = lake_partitions_state_relation(this) -%}
    {%- set existing = load_relation(this) -%}
    {%- set full_refresh = should_full_refresh() or existing is none
        or load_relation(state) is none -%}

    {{ run_hooks(pre_hooks) }}

    {%- if full_refresh -%}
        {% do run_query('drop table if exists ' ~ state) %}
    {%- endif -%}
    {% do run_query(
        'create table if not exists ' ~ state ~ ' ('
        ~ ' input_changed_at timestamp, built_at timestamp,'
        ~ ' rows_written bigint, files_written int, invocation_id string, '
        ~ partition_by ~ ' date) using parquet partitioned by ('
        ~ partition_by ~ ')') %}

    {#- The partitions to write: their input changed since last written. -#}
    {%- set changes = lake_partitions_changes(changed_in, partition_by) -%}
    {%- set dates = run_query(lake_partitions_plan(
        changed_in, partition_by, state, full_refresh)
    ).columns[0].values() | list -%}
    {{ log("lake_partitions: " ~ this.identifier ~ " writes "
        ~ dates | length ~ " partition(s)"
        ~ (" (full refresh)" if full_refresh else ""), info=True) }}

    {#- Columns: those the table has, plus what the model brings now. -#}
    {%- set described = run_query(
        'describe query select * from (' ~ sql ~ ') as model') -%}
    {%- set types = {} -%}
    {%- for row in described.rows -%}
        {%- do types.update({row[0]: row[1]}) -%}
    {%- endfor -%}
    {%- if partition_by not in types -%}
        {{ exceptions.raise_compiler_error(
            "lake_partitions: expected the model to select its partition"
            ~ " column '" ~ partition_by ~ "', got "
            ~ types.keys() | join(', ')) }}
    {%- endif -%}
    {%- set columns = described.columns[0].values()
        | reject('equalto', partition_by) | list -%}

    {%- if full_refresh -%}
        {% do run_query('drop table if exists ' ~ this) %}
        {%- set create_sql -%}
            create table {{ this }} (
            {%- for column in columns %}
                {{ adapter.quote(column) }} {{ types[column] }},
            {%- endfor %}
                {{ partition_by }} date
            )
            using parquet
            options (compression 'zstd')
            partitioned by ({{ partition_by }})
            location {{ dbt.string_literal(location) }}
        {%- endset -%}
        {% do run_query(create_sql) %}
    {%- else -%}
        {%- set old_columns = adapter.get_columns_in_relation(existing)
            | map(attribute='name') | reject('equalto', partition_by)
            | list -%}
        {%- set added = columns | reject('in', old_columns) | list -%}
        {%- if added and on_schema_change == 'fail' -%}
            {{ exceptions.raise_compiler_error(
                "lake_partitions: " ~ this.identifier ~ " gained columns "
                ~ added | join(', ') ~ " and on_schema_change is fail") }}
        {%- elif added and on_schema_change == 'append_new_columns' -%}
            {{ log("lake_partitions: " ~ this.identifier
                ~ " appends new columns " ~ added | join(', ')
                ~ "; existing partitions are not rewritten", info=True) }}
            {%- set definitions = [] -%}
            {%- for column in added -%}
                {%- do definitions.append(
                    adapter.quote(column) ~ ' ' ~ types[column]) -%}
            {%- endfor -%}
            {% do run_query('alter table ' ~ this ~ ' add columns ('
                ~ definitions | join(', ') ~ ')') %}
            {%- set columns = old_columns + added -%}
        {%- else -%}
            {#- Old columns the model no longer yields are written NULL. -#}
            {%- set columns = old_columns -%}
        {%- endif -%}
    {%- endif -%}

    {#- Dynamic: an overwrite replaces the partitions it writes, no others;
        a full refresh is static, so partitions no longer yielded go too. -#}
    {% do run_query('set spark.sql.sources.partitionOverwriteMode = '
        ~ ('static' if full_refresh else 'dynamic')) %}
    {% call statement('main') -%}
        insert overwrite table {{ this }} partition ({{ partition_by }})
        select
        {%- for column in columns %}
            {%- if column in types %}
            {{ adapter.quote(column) }},
            {%- else %}
            cast(null as {{ types.get(column, 'string') }})
                as {{ adapter.quote(column) }},
            {%- endif %}
        {%- endfor %}
            {{ partition_by }}
        from ({{ sql }}) as model
        where {{ partition_filter(partition_by, dates) }}
        distribute by {{ partition_by }}
        {%- if sort_by %}
        sort by {{ sort_by | join(', ') }}
        {%- endif %}
    {%- endcall %}
    {% do run_query(
        'set spark.sql.sources.partitionOverwriteMode = dynamic') %}

    {#- Rows and files written per partition; empty partitions are cleared. -#}
    {%- set written_sql -%}
        select
            cast({{ partition_by }} as string) as written_date,
            count(*) as rows_written,
            count(distinct _metadata.file_path) as files_written
        from {{ this }}
        where {{ partition_filter(partition_by, dates) }}
        group by 1
    {%- endset -%}
    {%- set written = run_query(written_sql).columns[0].values() | list -%}
    {%- set quoted = [] -%}
    {%- for column in columns -%}
        {%- do quoted.append(adapter.quote(column)) -%}
    {%- endfor -%}
    {%- for value in dates if value not in written -%}
        {% do run_query(
            'insert overwrite table ' ~ this ~ ' partition (' ~ partition_by
            ~ " = '" ~ value ~ "') select " ~ quoted | join(', ')
            ~ ' from ' ~ this ~ ' where false') %}
    {%- endfor -%}

    {%- if dates -%}
        {% call statement('record_partitions') -%}
            insert overwrite table {{ state }} partition ({{ partition_by }})
            select
                changes.changed_at as input_changed_at,
                current_timestamp() as built_at,
                coalesce(written.rows_written, 0) as rows_written,
                cast(coalesce(written.files_written, 0) as int)
                    as files_written,
                '{{ invocation_id }}' as invocation_id,
                changes.{{ partition_by }}
            from ({{ changes }}) as changes
            left join ({{ written_sql }}) as written
                on cast(changes.{{ partition_by }} as string)
                    = written.written_date
            where {{ partition_filter('changes.' ~ partition_by, dates) }}
        {%- endcall %}
    {%- endif -%}

    {{ run_hooks(post_hooks) }}
    {% do adapter.commit() %}
    {{ return({'relations': [this, state]}) }}
{% endmaterialization %}
