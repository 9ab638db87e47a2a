"""eventlake: Kafka clickstream into a date-partitioned Parquet lake, modelled with dbt."""

__version__ = "0.1.0"
