{#-
    The Parquet glob a lake source reads: lake_dir() / its meta.files_glob.
    Fails at compile time when the source has none or it is not relative to
    the lake. Used by lake_source and lake_files.
-#}
{% macro lake_source_glob(source_name, table_name) -%}
    {%- set node = graph.sources.values()
        | selectattr('source_name', 'equalto', source_name)
        | selectattr('name', 'equalto', table_name)
        | first -%}
    {%- set files_glob = node.config.meta.get('files_glob') if node -%}
    {%- if not files_glob -%}
        {{ exceptions.raise_compiler_error(
            "lake_source: source '" ~ source_name ~ "." ~ table_name
            ~ "' needs meta.files_glob (the Parquet glob it reads), got none"
        ) }}
    {%- endif -%}
    {%- if files_glob.startswith('/') or '://' in files_glob -%}
        {{ exceptions.raise_compiler_error(
            "lake_source: expected meta.files_glob of '" ~ source_name ~ "."
            ~ table_name ~ "' relative to the lake, got '" ~ files_glob ~ "'"
        ) }}
    {%- endif -%}
    {{ return(lake_dir().rstrip('/') ~ '/' ~ files_glob) }}
{%- endmacro %}
