{% macro expire_partitions(
    before_date, rollup_before_date=none, dry_run=true
) -%}
    {%- set date_pattern = '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' -%}
    {%- set dates = {'before_date': before_date,
        'rollup_before_date': rollup_before_date} -%}
    {%- for name, value in dates.items() -%}
        {%- if (value is not none or name == 'before_date')
            and not modules.re.match(date_pattern, value | string) -%}
            {{ exceptions.raise_compiler_error(
                "expire_partitions: expected " ~ name ~ " as YYYY-MM-DD, got '"
                ~ value ~ "'") }}
        {%- endif -%}
    {%- endfor -%}
    {%- if dry_run not in [true, false] -%}
        {{ exceptions.raise_compiler_error(
            "expire_partitions: expected dry_run true or false, got '"
            ~ dry_run ~ "'") }}
    {%- endif -%}
    {%- set cutoffs = {
        'lake': before_date | string,
        'rollup': rollup_before_date | string
            if rollup_before_date is not none else none,
    } -%}
    {%- set verb = 'would delete' if dry_run else 'deleted' -%}
    {%- set total = namespace(rows=0, models=0) -%}
    {%- if not dry_run -%}
        {%- do assert_build_published() -%}
    {%- endif -%}
    {%- set caught_up = [] if dry_run else watermarks_caught_up() -%}
    {%- set expired = [] -%}

    {%- for node in graph.nodes.values()
        if node.resource_type == 'model'
        and node.config.get('meta', {}).get('retention') -%}
        {%- set retention = node.config.meta.retention -%}
        {%- set keep = retention.get('keep', 'lake') -%}
        {%- set materialized = node.config.materialized -%}
        {%- if keep not in cutoffs or not retention.get('date_column') -%}
            {{ exceptions.raise_compiler_error(
                "expire_partitions: expected meta.retention of " ~ node.name
                ~ " as {date_column: <column>, keep: lake | rollup}, got "
                ~ retention) }}
        {%- endif -%}
        {%- if materialized == 'lake_partitions' and keep != 'lake' -%}
            {{ exceptions.raise_compiler_error(
                "expire_partitions: " ~ node.name ~ " is a lake_partitions"
                ~ " model, its files expire with the lake: expected keep:"
                ~ " lake, got keep: " ~ keep) }}
        {%- endif -%}

        {%- set identifier = node.alias -%}
        {%- set date_column = retention.date_column -%}
        {%- if materialized == 'lake_partitions' -%}
            {%- set identifier = node.alias ~ '__partitions' -%}
            {%- set date_column = node.config.get(
                'partition_by', 'event_date') -%}
        {%- endif -%}
        {%- set cutoff = cutoffs[keep] -%}
        {%- set relation = adapter.get_relation(
            database=node.database, schema=node.schema,
            identifier=identifier) -%}

        {%- if materialized in ['view', 'ephemeral'] -%}
            {{ log("expire_partitions: " ~ node.name ~ " skipped: a "
                ~ materialized ~ " stores no rows", info=True) }}
        {%- elif cutoff is none -%}
            {{ log("expire_partitions: " ~ node.name ~ " skipped: keep "
                ~ keep ~ " and no rollup_before_date given", info=True) }}
        {%- elif relation is none -%}
            {{ log("expire_partitions: " ~ node.name ~ " skipped: "
                ~ identifier ~ " does not exist", info=True) }}
        {%- else -%}
            {%- set condition = date_column ~ " < cast("
                ~ dbt.string_literal(cutoff) ~ " as date)" -%}
            {%- set found = run_query(
                "select count(*) from " ~ relation ~ " where " ~ condition
            ).columns[0].values()[0] -%}
            {%- if found > 0 and not dry_run -%}
                {%- do expire_rows(relation, date_column, cutoff,
                    node.config.get('partition_by')
                        if materialized != 'lake_partitions'
                        else date_column) -%}
                {%- do expired.append(node.alias) -%}
            {%- endif -%}
            {%- if materialized == 'lake_partitions' and not dry_run -%}
                {%- do expire_lake_partitions_metadata(node, cutoff) -%}
            {%- endif -%}
            {{ log("expire_partitions: " ~ relation ~ " " ~ verb ~ " "
                ~ found ~ " rows with " ~ date_column ~ " before "
                ~ cutoff, info=True) }}
            {%- set total.rows = total.rows + found -%}
            {%- set total.models = total.models + 1 -%}
        {%- endif -%}
    {%- endfor -%}

    {%- if not dry_run -%}
        {%- do adapter.commit() -%}
        {%- do advance_watermarks(caught_up, expired) -%}
        {%- do publish_build() -%}
    {%- endif -%}
    {{ log("expire_partitions: " ~ verb ~ " " ~ total.rows ~ " rows in "
        ~ total.models ~ " relations"
        ~ (" (dry run)" if dry_run else ""), info=True) }}
{%- endmacro %}


{#-
    The watermarks (control.model_watermarks rows, as [model_name,
    upstream_name]) whose model has consumed every change of its upstream:
    on DuckLake, the upstream's change feed since the watermark is empty.
    Spark's watermarks follow the lake_partitions state tables' built_at,
    which retention does not move: none to advance there.
-#}
{% macro watermarks_caught_up() -%}
    {{ return(adapter.dispatch('watermarks_caught_up')()) }}
{%- endmacro %}

{% macro default__watermarks_caught_up() -%}
    {%- set watermarks = adapter.get_relation(
        database=target.database, schema='control',
        identifier='model_watermarks') -%}
    {%- if watermarks is none -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set caught_up = [] -%}
    {%- for row in run_query(
        "select model_name, upstream_name, cast(max(consumed_through) as"
        ~ " varchar) from " ~ watermarks
        ~ " where model_name not like '%.%' group by all").rows -%}
        {%- set upstream = adapter.get_relation(database=target.database,
            schema=target.schema, identifier=row[1]) -%}
        {%- if upstream is not none -%}
            {%- set changes = run_query(
                "select count(*) from ducklake_table_changes('"
                ~ upstream.database ~ "', '" ~ upstream.schema ~ "', '"
                ~ upstream.identifier ~ "', cast('" ~ row[2]
                ~ "' as timestamp with time zone), now())"
            ).columns[0].values()[0] -%}
            {%- if changes == 0 -%}
                {%- do caught_up.append([row[0], row[1]]) -%}
            {%- else -%}
                {{ log("expire_partitions: " ~ row[0] ~ " has not consumed "
                    ~ changes ~ " changes of " ~ row[1] ~ " yet; its next"
                    ~ " build also rebuilds the dates that expire there",
                    info=True) }}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(caught_up) }}
{%- endmacro %}

{% macro spark__watermarks_caught_up() -%}
    {{ return([]) }}
{%- endmacro %}


{#-
    Moves past the deletes just committed the watermarks of caught_up whose
    upstream is one of the expired models, so the next build sees no change
    there: a newer row per watermark (append-only, as
    record_consumed_partitions writes them). One commit, after the deletes'
    (a watermark at the deletes' own commit would still see them).
-#}
{% macro advance_watermarks(caught_up, expired) -%}
    {%- set rows = [] -%}
    {%- for model_name, upstream_name in caught_up
        if upstream_name in expired -%}
        {%- do rows.append("(" ~ dbt.string_literal(model_name) ~ ", "
            ~ dbt.string_literal(upstream_name) ~ ", now(), now())") -%}
    {%- endfor -%}
    {%- if rows -%}
        {%- do run_query("insert into control.model_watermarks values "
            ~ rows | join(", ")) -%}
    {%- endif -%}
    {{ log("expire_partitions: " ~ rows | length ~ " watermarks moved past"
        ~ " the deletes", info=True) }}
{%- endmacro %}


{#- Deletes a relation's rows with date_column before cutoff (YYYY-MM-DD). -#}
{% macro expire_rows(relation, date_column, cutoff, partition_by) -%}
    {{ return(adapter.dispatch('expire_rows')(
        relation, date_column, cutoff, partition_by)) }}
{%- endmacro %}

{% macro default__expire_rows(relation, date_column, cutoff, partition_by) -%}
    {%- do run_query("delete from " ~ relation ~ " where " ~ date_column
        ~ " < cast(" ~ dbt.string_literal(cutoff) ~ " as date)") -%}
{%- endmacro %}

{#-
    Spark's Parquet tables have no DELETE: a table partitioned by the date
    drops the expired partitions; any other is rewritten without the rows.
-#}
{% macro spark__expire_rows(relation, date_column, cutoff, partition_by) -%}
    {%- set condition = date_column ~ " < cast("
        ~ dbt.string_literal(cutoff) ~ " as date)" -%}
    {%- if partition_by == date_column -%}
        {%- set dates = run_query(
            "select distinct cast(" ~ date_column ~ " as string) from "
            ~ relation ~ " where " ~ condition).columns[0].values() | list -%}
        {%- do run_query(spark_drop_partitions(relation, dates, date_column)) -%}
    {%- else -%}
        {%- do spark_rewrite_table(relation,
            "select * from " ~ relation ~ " where not coalesce(" ~ condition
            ~ ", false)") -%}
    {%- endif -%}
{%- endmacro %}


{#-
    A lake_partitions model's files are expired in the lake by Python; on
    Spark its table also lists its partitions in the metastore, and the
    expired ones are dropped there. Nothing to do on DuckDB (a view).
-#}
{% macro expire_lake_partitions_metadata(node, cutoff) -%}
    {{ return(adapter.dispatch('expire_lake_partitions_metadata')(
        node, cutoff)) }}
{%- endmacro %}

{% macro default__expire_lake_partitions_metadata(node, cutoff) -%}
{%- endmacro %}

{% macro spark__expire_lake_partitions_metadata(node, cutoff) -%}
    {%- set relation = adapter.get_relation(
        database=node.database, schema=node.schema, identifier=node.alias) -%}
    {%- if relation is not none -%}
        {%- set partition_by = node.config.get('partition_by', 'event_date') -%}
        {%- set dates = [] -%}
        {%- for row in run_query('show partitions ' ~ relation).rows -%}
            {%- set value = row[0].split('=', 1)[1] -%}
            {%- if value < cutoff | string -%}
                {%- do dates.append(value) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if dates -%}
            {%- do run_query(
                spark_drop_partitions(relation, dates, partition_by)) -%}
        {%- endif -%}
        {{ log("expire_partitions: " ~ relation ~ " dropped " ~ dates | length
            ~ " expired partition(s) from the metastore", info=True) }}
    {%- endif -%}
{%- endmacro %}
