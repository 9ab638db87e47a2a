{#-
    Configured in snapshots/_snapshots.yml. Only the tracked attributes are
    kept: last_seen_at and the like change on every visit and would read
    as the values of the day a version was taken.
-#}
{% snapshot snap_user_attributes %}

    select
        user_id,
        country_code,
        device_type,
        segment
    from {{ ref('int_users__last_seen') }}

{% endsnapshot %}
