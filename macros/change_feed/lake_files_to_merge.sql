{% macro lake_files_to_merge(model_name='fct_events') -%}
    {%- set arrivals = ref('int_event_files__arrived') -%}
    {%- if load_relation(arrivals) is none -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set query -%}
        select file_path
        from {{ arrivals }}
        {%- if not flags.FULL_REFRESH %}
        where
            not is_late
            and arrived_at > coalesce(
                (
                    select max(consumed_through)
                    from control.model_watermarks
                    where
                        model_name = '{{ watermark_name(model_name) }}'
                        and upstream_name = 'int_event_files__arrived'
                ),
                cast('-infinity' as timestamp with time zone)
            )
        {%- endif %}
        order by 1
    {%- endset -%}
    {{ return(run_query(query).columns[0].values() | list) }}
{%- endmacro %}
