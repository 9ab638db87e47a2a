"""dbt-duckdb plugin: DuckDB's extensions installed from their PyPI wheels before dbt attaches
the lakehouse, so a build downloads nothing; a SQLite catalog in WAL mode; every cursor uses
the lakehouse as its default catalog. Enabled in profiles.yml
(``plugins: [{module: eventlake.dbt.plugin}]``).
"""

from __future__ import annotations

from dbt.adapters.duckdb.plugins import BasePlugin

from eventlake.lake.lakehouse import ALIAS, catalog_from_env, install_extensions, prepare_catalog


class Plugin(BasePlugin):
    def configure_connection(self, conn) -> None:
        install_extensions(conn)
        prepare_catalog(catalog_from_env())

    def configure_cursor(self, cursor) -> None:
        # Unqualified names (control.erasure_requests) resolve in the lakehouse.
        cursor.execute(f"use {ALIAS}")
