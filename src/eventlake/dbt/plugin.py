"""dbt-duckdb plugin: DuckDB's extensions installed from their PyPI wheels before dbt attaches
the lakehouse, so a build downloads nothing; a SQLite catalog in WAL mode; every cursor uses
the lakehouse as its default catalog; a lake in a bucket (EVENTLAKE_LAKE_DIR=s3://...) gets
httpfs and its S3 secret before the ATTACH, so DuckLake's DATA_PATH and the raw source reach
it. Enabled in profiles.yml (``plugins: [{module: eventlake.dbt.plugin}]``).
"""

from __future__ import annotations

import os

from dbt.adapters.duckdb.plugins import BasePlugin

from eventlake.lake.lakehouse import ALIAS, catalog_from_env, install_extensions, prepare_catalog
from eventlake.lake.storage import lake_storage


class Plugin(BasePlugin):
    def configure_connection(self, conn) -> None:
        install_extensions(conn)
        lake_storage(os.environ.get("EVENTLAKE_LAKE_DIR") or "lake").configure(conn)
        prepare_catalog(catalog_from_env())

    def configure_cursor(self, cursor) -> None:
        # Unqualified names (control.erasure_requests) resolve in the lakehouse.
        cursor.execute(f"use {ALIAS}")
