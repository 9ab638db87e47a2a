{#-
    Write-audit-publish on DuckLake. dbt writes the models into the target
    schema (`build`); readers use the schema `main`, where every model has a
    view pinned to one DuckLake snapshot (`at (version => N)`). Run at the end
    of every invocation (on-run-end) with its results: when every node
    succeeded and the invocation ran the tests (`dbt build`), the views are
    re-pinned, all in one commit, to the snapshot that holds this build. A
    build whose tests fail publishes nothing, and readers keep the previous
    build's facts, rollups and marts together. Erasure and retention call it
    with no results once they have deleted, so readers stop seeing the rows
    at once. Only the production target (schema `build`) publishes.
-#}
{% macro publish_build(results=none) -%}
    {%- if not execute or target.type != 'duckdb'
        or target.schema != var('build_schema') -%}
        {{ return('') }}
    {%- endif -%}
    {%- if results is not none -%}
        {%- set failed = results
            | selectattr('status', 'in', ['error', 'fail', 'runtime error'])
            | map(attribute='node.name') | list -%}
        {%- if flags.WHICH != 'build' -%}
            {{ log("publish_build: not published (dbt " ~ flags.WHICH
                ~ " runs no tests; `dbt build` publishes)", info=True) }}
            {{ return('') }}
        {%- elif failed -%}
            {{ log("publish_build: not published: " ~ failed | join(', ')
                ~ " failed; readers keep the previous build", info=True) }}
            {{ return('') }}
        {%- endif -%}
    {%- endif -%}

    {%- set version = run_query(
        'select max(snapshot_id) from ' ~ target.database ~ '.snapshots()'
    ).columns[0].values()[0] -%}
    {%- set published = published_schema() -%}
    {%- set statements = [
        'create schema if not exists ' ~ target.database ~ '.' ~ published] -%}
    {%- set names = [] -%}
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
                {#- A view reads the published tables, not the build's. -#}
                {%- do statements.append('create or replace view ' ~ view
                    ~ ' as ' ~ published_view_sql(relation, published)) -%}
            {%- else -%}
                {%- do statements.append(
                    'create or replace view ' ~ view ~ ' as select * from '
                    ~ relation ~ ' at (version => ' ~ version ~ ')') -%}
            {%- endif -%}
            {%- do names.append(node.alias) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do run_query('begin transaction;\n' ~ statements | join(';\n')
        ~ ';\ncommit') -%}
    {{ log("publish_build: " ~ names | length ~ " models published at"
        ~ " snapshot " ~ version, info=True) }}
    {{ return('') }}
{%- endmacro %}

{#- A build view's query, reading the published schema instead. -#}
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

{#- The schema readers use: main, whatever the build writes into. -#}
{% macro published_schema() -%}
    {{ return('main') }}
{%- endmacro %}
