{% macro lake_files(source_name, table_name) -%}
    {{ return(adapter.dispatch('lake_files')(source_name, table_name)) }}
{%- endmacro %}

{% macro default__lake_files(source_name, table_name) -%}
    (select distinct
        input_file_name() as file_path,
        event_date
    from {{ source(source_name, table_name) }})
{%- endmacro %}

{#-
    DuckDB: the raw files a reader reads, by two rules (layout.readable in
    Python). Committed: a loader file is named
    <topic>+<partition>+<first offset>+<last offset>.parquet; it is committed
    once its partition's checkpoint (<lake>/_checkpoints/<topic>/<partition>
    .json) moved next_offset past its last offset. Until then it belongs to a
    flush under way, or to one that crashed and that recovery will delete: on
    a bucket, where a flush writes under final names, no build reads it. A
    file named otherwise, or of a partition without a checkpoint, is read.
    Not superseded: a committed file whose range another committed file of
    its folder, topic and partition strictly contains is an input of that
    merged file (compaction), not deleted yet or left by a merge that
    crashed; the merged file holds its rows. A file is contained exactly when
    one sorted before it (by first offset, wider first) reaches at least as
    far: a running max, so the listing is scanned once.
-#}
{% macro duckdb__lake_files(source_name, table_name) -%}
    {%- if not execute -%}
        {{ return(default__lake_files(source_name, table_name)) }}
    {%- endif -%}
    {%- set files_glob = lake_source_glob(source_name, table_name) -%}
    {%- set checkpoints_glob = lake_dir() ~ '/_checkpoints/*/*.json' -%}
    {%- set has_checkpoints = run_query(
        "select count(*) from glob(" ~ dbt.string_literal(checkpoints_glob)
        ~ ")"
    ).columns[0].values()[0] > 0 -%}
    (with
    lake_file as (
        select
            file as file_path,
            cast(
                regexp_extract(
                    file, 'event_date=([0-9]{4}-[0-9]{2}-[0-9]{2})', 1
                )
                as date
            ) as event_date,
            regexp_extract(file, '^(.*)/[^/]*$', 1) as folder_path,
            regexp_extract(
                file,
                '/([^/+]+)[+]([0-9]{5})[+]([0-9]{20})[+]([0-9]{20})[.]parquet$',
                ['topic', 'kafka_partition', 'first_offset', 'last_offset']
            ) as loader_name
        from glob({{ dbt.string_literal(files_glob) }})
    ),

    checkpoint as (
    {%- if has_checkpoints %}
        select
            regexp_extract(
                filename,
                '/_checkpoints/([^/]+)/([0-9]{5})[.]json$',
                ['topic', 'kafka_partition']
            ) as partition_key,
            next_offset
        from read_json(
            {{ dbt.string_literal(checkpoints_glob) }},
            columns = {next_offset: 'bigint', pending: 'varchar[]'},
            filename = true
        )
    {%- else %}
        select
            {'topic': '', 'kafka_partition': ''} as partition_key,
            cast(null as bigint) as next_offset
        where false
    {%- endif %}
    ),

    committed_file as (
        select
            lake_file.file_path,
            lake_file.event_date,
            lake_file.folder_path,
            lake_file.loader_name.topic as topic,
            lake_file.loader_name.kafka_partition as kafka_partition,
            try_cast(lake_file.loader_name.first_offset as bigint)
                as first_offset,
            try_cast(lake_file.loader_name.last_offset as bigint)
                as last_offset
        from lake_file
        left join checkpoint
            on
                lake_file.loader_name.topic = checkpoint.partition_key.topic
                and lake_file.loader_name.kafka_partition
                = checkpoint.partition_key.kafka_partition
        where
            lake_file.loader_name.topic = ''
            or checkpoint.partition_key is null
            or cast(lake_file.loader_name.last_offset as bigint)
            < checkpoint.next_offset
    ),

    {{ lake_files_not_superseded('committed_file') }})
{%- endmacro %}

{#-
    Spark: the same two rules as duckdb__lake_files, on a listing of the
    files (binaryFile, whose content is not read when not selected). The
    checkpoints are read through a glob that also matches the source's files
    (a glob matching nothing is an error on Spark, and a lake has no
    checkpoint before a loader ran): the path filter, pushed to the listing,
    keeps the checkpoints and reads no Parquet file. Paths are URIs
    (file:/..., s3a://...), as _metadata.file_path names them in lake_source.
-#}
{% macro spark__lake_files(source_name, table_name) -%}
    {%- if not execute -%}
        {{ return(default__lake_files(source_name, table_name)) }}
    {%- endif -%}
    {%- set files_glob = lake_source_glob(source_name, table_name) -%}
    {%- set lake_root = lake_dir().rstrip('/') -%}
    {%- set checkpoints_glob = lake_root ~ '/{_checkpoints/*/*.json,'
        ~ files_glob[lake_root | length:].lstrip('/') ~ '}' -%}
    {#- A loader file's name: topic, partition, first and last offset. -#}
    {%- set loader_name = dbt.string_literal(
        '/([^/+]+)[+]([0-9]{5})[+]([0-9]{20})[+]([0-9]{20})[.]parquet$'
    ) -%}
    (with
    lake_file as (
        select
            path as file_path,
            cast(
                regexp_extract(
                    path, 'event_date=([0-9]{4}-[0-9]{2}-[0-9]{2})', 1
                )
                as date
            ) as event_date,
            regexp_extract(path, '^(.*)/[^/]*$', 1) as folder_path,
            regexp_extract(path, {{ loader_name }}, 1) as topic,
            regexp_extract(
                path, {{ loader_name }}, 2
            ) as kafka_partition,
            regexp_extract(
                path, {{ loader_name }}, 3
            ) as first_offset,
            regexp_extract(
                path, {{ loader_name }}, 4
            ) as last_offset
        from binaryFile.`{{ files_glob }}`
    ),

    checkpoint as (
        select
            regexp_extract(
                path, '/_checkpoints/([^/]+)/([0-9]{5})[.]json$', 1
            ) as topic,
            regexp_extract(
                path, '/_checkpoints/([^/]+)/([0-9]{5})[.]json$', 2
            ) as kafka_partition,
            cast(
                get_json_object(cast(content as string), '$.next_offset')
                as bigint
            ) as next_offset
        from binaryFile.`{{ checkpoints_glob }}`
        where path like '%.json'
    ),

    committed_file as (
        select
            lake_file.file_path,
            lake_file.event_date,
            lake_file.folder_path,
            lake_file.topic,
            lake_file.kafka_partition,
            cast(lake_file.first_offset as bigint) as first_offset,
            cast(lake_file.last_offset as bigint) as last_offset
        from lake_file
        left join checkpoint
            on
                lake_file.topic = checkpoint.topic
                and lake_file.kafka_partition = checkpoint.kafka_partition
        where
            lake_file.topic = ''
            or checkpoint.topic is null
            or cast(lake_file.last_offset as bigint) < checkpoint.next_offset
    ),

    {{ lake_files_not_superseded('committed_file') }})
{%- endmacro %}

{#-
    The supersede rule of lake_files, in SQL both engines share: the
    committed files of `committed_file` (file_path, event_date, folder_path,
    topic, kafka_partition, first_offset, last_offset) that no other file of
    their folder, topic and partition contains. Two CTEs and the final
    select of a `with` the caller opened.
-#}
{% macro lake_files_not_superseded(committed_file) -%}
    reach_before as (
        select
            file_path,
            event_date,
            last_offset,
            max(last_offset) over (
                partition by folder_path, topic, kafka_partition
                order by first_offset asc, last_offset desc
                rows between unbounded preceding and 1 preceding
            ) as widest_last_offset
        from {{ committed_file }}
    ),

    readable_file as (
        select
            file_path,
            event_date
        from reach_before
        where
            widest_last_offset is null
            or widest_last_offset < last_offset
    )

    select * from readable_file
{%- endmacro %}
