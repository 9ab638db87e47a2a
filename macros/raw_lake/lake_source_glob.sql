{#-
    The Parquet glob a lake source reads (its meta.files_glob). Fails at
    compile time when the source has none or the glob does not lie under
    lake_dir(). Used by lake_source and lake_files.
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
    {%- if not files_glob.startswith(lake_dir()) -%}
        {{ exceptions.raise_compiler_error(
            "lake_source: expected the files of '" ~ source_name ~ "."
            ~ table_name ~ "' under lake_dir() '" ~ lake_dir()
            ~ "', got meta.files_glob '" ~ files_glob ~ "'. Set the lake"
            ~ " with EVENTLAKE_LAKE_DIR rather than --vars lake_dir."
        ) }}
    {%- endif -%}
    {{ return(files_glob) }}
{%- endmacro %}
