"""dbt: the one runner of the dbt project and the dbt-duckdb plugin."""
