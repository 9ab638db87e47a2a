{#-
    Retention on the warehouse side, run by `eventlake retention` as
    `dbt run-operation expire_partitions --args '{...}'` after it expired the
    lake's date partitions (the Python side computes both dates from today).

    Walks the models declaring `meta: {retention: {date_column: <column>,
    keep: lake | rollup}}` and deletes their rows with date_column before
    before_date (keep: lake) or rollup_before_date (keep: rollup; rollups
    keep aggregates longer). Each model's rows are counted first and logged;
    dry_run (the default) only counts.

    Skipped: models not built yet, views and ephemeral models (nothing stored),
    and rollups when no rollup_before_date is given. A lake_partitions model's
    files are the lake's (expired by Python); here only the rows of its state
    table <identifier>__partitions go, by its partition_by column.
-#}
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
    {%- endif -%}
    {{ log("expire_partitions: " ~ verb ~ " " ~ total.rows ~ " rows in "
        ~ total.models ~ " relations"
        ~ (" (dry run)" if dry_run else ""), info=True) }}
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
