-- depends_on: {{ source('kafka', 'events') }}
with

files as (

    select * from {{ lake_files('kafka', 'events') }}

)

select
    file_path,
    event_date
from files
