-- Project-wide, not under a model's folder: it checks every model, snapshot
-- and seed of the graph, not one model.
-- Every model, snapshot or seed with a column that identifies a person must
-- declare meta.subject_key (the column erasure matches on), so a new model
-- cannot escape an erasure request. Columns are read from the warehouse's
-- catalog where the relation exists, else from the model's yml. Returns one
-- row per undeclared node and personal column.
{%- set personal_columns = ['user_id', 'user_key', 'subject_hash'] -%}
{%- set violations = [] -%}
{%- if execute -%}
    {%- for node in graph.nodes.values()
        if node.resource_type in ['model', 'snapshot', 'seed']
        and node.package_name == project_name
        and not node.config.meta.get('subject_key') -%}
        {%- set columns = node.columns.keys() | list -%}
        {%- if node.config.materialized != 'ephemeral' -%}
            {%- set relation = load_relation(api.Relation.create(
                database=node.database, schema=node.schema,
                identifier=node.alias)) -%}
            {%- if relation is not none -%}
                {%- set columns = columns
                    + adapter.get_columns_in_relation(relation)
                    | map(attribute='name') | list -%}
            {%- endif -%}
        {%- endif -%}
        {%- for column in columns | map('lower') | unique
            if column in personal_columns -%}
            {%- do violations.append((node.unique_id, column)) -%}
        {%- endfor -%}
    {%- endfor -%}
{%- endif %}

{% for unique_id, column in violations %}
select
    '{{ unique_id }}' as node_id,
    '{{ column }}' as personal_column
union all
{% endfor %}
select
    cast(null as {{ dbt.type_string() }}) as node_id,
    cast(null as {{ dbt.type_string() }}) as personal_column
where false
