"""The lake: the raw lake's layout, the DuckLake lakehouse, and their maintenance jobs."""
