{% macro publish_build(results=none) -%}
    {%- if not execute or target.type != 'duckdb'
        or target.schema != var('build_schema') -%}
        {{ return('') }}
    {%- endif -%}
    {%- if results is not none -%}
        {%- set failed = failed_nodes(results) -%}
        {%- if flags.WHICH != 'build' -%}
            {{ log("publish_build: not published (dbt " ~ flags.WHICH
                ~ " runs no tests; `dbt build` publishes)", info=True) }}
            {{ return('') }}
        {%- elif failed -%}
            {%- do record_build_publication(false, none, failed) -%}
            {{ log("publish_build: not published: " ~ failed | join(', ')
                ~ " failed; readers keep the previous build", info=True) }}
            {{ return('') }}
        {%- endif -%}
    {%- else -%}
        {%- do assert_build_published() -%}
    {%- endif -%}
    {%- set behind = unconsumed_changes() -%}
    {%- if behind -%}
        {%- if results is not none -%}
            {%- do record_build_publication(false, none, behind) -%}
        {%- endif -%}
        {{ log("publish_build: not published: " ~ behind | join(', ')
            ~ " not consumed yet (the next build recomputes them); readers"
            ~ " keep the previous build", info=True) }}
        {{ return('') }}
    {%- endif -%}

    {%- set version = run_query(
        'select max(snapshot_id) from ' ~ target.database ~ '.snapshots()'
    ).columns[0].values()[0] -%}
    {%- set published = published_schema() -%}
    {%- set statements = [
        'create schema if not exists ' ~ target.database ~ '.' ~ published] -%}
    {%- set names = [] -%}
    {#- Pinned tables first: a dbt view reads the published tables. -#}
    {%- set views = [] -%}
    {%- for node in graph.nodes.values()
        if node.resource_type in ['model', 'seed', 'snapshot']
        and node.config.materialized != 'ephemeral'
        and node.schema == target.schema -%}
        {%- set relation = load_relation(api.Relation.create(
            database=node.database, schema=node.schema,
            identifier=node.alias)) -%}
        {%- if relation is not none -%}
            {%- set view = api.Relation.create(
                database=node.database, schema=published,
                identifier=node.alias) -%}
            {%- if relation.type == 'view' -%}
                {%- do views.append('create or replace view ' ~ view
                    ~ ' as ' ~ published_view_sql(relation, published)) -%}
            {%- else -%}
                {%- do statements.append(
                    'create or replace view ' ~ view ~ ' as select * from '
                    ~ relation ~ ' at (version => ' ~ version ~ ')') -%}
            {%- endif -%}
            {%- do names.append(node.alias) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do statements.extend(views) -%}
    {#- Listing a schema missing from dbt's cache (in `dbt run-operation
        publish_build`) leaves dbt's transaction open: closed first, the
        views commit in a transaction of their own. -#}
    {%- do adapter.ensure_transaction() -%}
    {%- do adapter.commit() -%}
    {%- do run_query('begin transaction;\n' ~ statements | join(';\n')
        ~ ';\ncommit') -%}
    {%- if results is not none -%}
        {%- do record_build_publication(true, version, []) -%}
    {%- endif -%}
    {{ log("publish_build: " ~ names | length ~ " models published at"
        ~ " snapshot " ~ version, info=True) }}
    {{ return('') }}
{%- endmacro %}

{#-
    The production models (control.model_watermarks; a dev build's rows are
    `<schema>.<model>`) whose upstream in the build schema has inserted or
    deleted rows they have not consumed, as `model <- upstream`. Published
    then, readers would see facts beside rollups that do not count them yet:
    erase_subjects deletes facts before the build recomputes the rollups, a
    `dbt build --select fct_events` leaves them behind. A rewrite of files
    (update pre- and post-images of the same rows) changes nothing.
-#}
{% macro unconsumed_changes() -%}
    {%- set exists = run_query(
        "select count(*) from duckdb_tables() where database_name = '"
        ~ target.database ~ "' and schema_name = 'control'"
        ~ " and table_name = 'model_watermarks'"
    ).columns[0].values()[0] -%}
    {%- if exists == 0 -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set watermarks = run_query(
        "select watermarks.model_name, watermarks.upstream_name,"
        ~ " cast(max(watermarks.consumed_through) as varchar)"
        ~ " from " ~ target.database ~ ".control.model_watermarks as watermarks"
        ~ " inner join duckdb_tables() as upstream"
        ~ " on upstream.database_name = '" ~ target.database ~ "'"
        ~ " and upstream.schema_name = '" ~ target.schema ~ "'"
        ~ " and upstream.table_name = watermarks.upstream_name"
        ~ " where watermarks.model_name not like '%.%'"
        ~ " group by all order by all").rows -%}
    {%- set behind = [] -%}
    {%- for model_name, upstream_name, consumed_through in watermarks -%}
        {%- set changes = run_query(
            "select count(*) from ducklake_table_changes('" ~ target.database
            ~ "', '" ~ target.schema ~ "', '" ~ upstream_name ~ "', cast('"
            ~ consumed_through ~ "' as timestamp with time zone), now())"
            ~ " where change_type in ('insert', 'delete')"
        ).columns[0].values()[0] -%}
        {%- if changes > 0 -%}
            {%- do behind.append(model_name ~ ' <- ' ~ upstream_name) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(behind) }}
{%- endmacro %}

{#-
    A build view's query (from duckdb_views()), its references to the build
    schema turned to the published one, so the published view reads the
    published (pinned) tables.
-#}
{% macro published_view_sql(relation, published) -%}
    {%- set definition = run_query(
        "select sql from duckdb_views() where database_name = '"
        ~ relation.database ~ "' and schema_name = '" ~ relation.schema
        ~ "' and view_name = '" ~ relation.identifier ~ "'"
    ).columns[0].values()[0] -%}
    {%- set query = modules.re.sub(
        '(?is)^\\s*create\\s+(or\\s+replace\\s+)?view\\s+\\S+\\s+as\\s+', '',
        definition).rstrip().rstrip(';') -%}
    {#- The catalog stores it unquoted; dbt writes it quoted. -#}
    {%- set view = namespace(query=query) -%}
    {%- for build_name in [
        relation.database ~ '.' ~ relation.schema ~ '.',
        '"' ~ relation.database ~ '"."' ~ relation.schema ~ '".'] -%}
        {%- set view.query = view.query.replace(build_name,
            relation.database ~ '.' ~ published ~ '.') -%}
    {%- endfor -%}
    {{ return(view.query) }}
{%- endmacro %}

{% macro published_schema() -%}
    {{ return('main') }}
{%- endmacro %}

{#-
    One row per `dbt build` of the production target in
    control.build_publications (created if missing): invocation, time,
    whether it was published, the snapshot it published, the nodes that
    failed.
-#}
{% macro record_build_publication(published, version, failed) -%}
    {%- do run_query(
        "create schema if not exists " ~ target.database ~ ".control") -%}
    {%- do run_query(
        "create table if not exists control.build_publications ("
        ~ " invocation_id varchar, decided_at timestamp with time zone,"
        ~ " published boolean, snapshot_id bigint, failed_nodes varchar)") -%}
    {%- do run_query(
        "insert into control.build_publications values ('" ~ invocation_id
        ~ "', current_timestamp, " ~ published ~ ", "
        ~ (version if version is not none else 'null') ~ ", "
        ~ dbt.string_literal(failed | join(', ')) ~ ")") -%}
{%- endmacro %}

{% macro assert_build_published() -%}
    {%- if not execute or target.type != 'duckdb'
        or target.schema != var('build_schema') -%}
        {{ return('') }}
    {%- endif -%}
    {%- set exists = run_query(
        "select count(*) from duckdb_tables() where database_name = '"
        ~ target.database ~ "' and schema_name = 'control'"
        ~ " and table_name = 'build_publications'"
    ).columns[0].values()[0] -%}
    {%- if exists == 0 -%}
        {{ return('') }}
    {%- endif -%}
    {%- set last = run_query(
        "select published, invocation_id, cast(decided_at as varchar),"
        ~ " failed_nodes from control.build_publications"
        ~ " order by decided_at desc limit 1").rows -%}
    {%- if last and not last[0][0] -%}
        {{ exceptions.raise_compiler_error(
            "the last dbt build (invocation " ~ last[0][1] ~ ", "
            ~ last[0][2] ~ ") failed (" ~ last[0][3] ~ ") and was not"
            ~ " published; this operation would publish its rows. Fix it"
            ~ " and run dbt build again first.") }}
    {%- endif -%}
{%- endmacro %}
