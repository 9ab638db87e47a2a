"""dbt-duckdb plugin: DuckDB's extensions installed from their PyPI wheels, so a build
downloads nothing; a lake in a bucket (EVENTLAKE_LAKE_DIR=s3://...) gets httpfs and its S3
secret; a SQLite catalog in WAL mode; then the lakehouse attached from EVENTLAKE_CATALOG and
EVENTLAKE_LAKE_DIR with the statement every reader runs (``attach_sql``). Every cursor uses the
lakehouse as its default catalog. Enabled in profiles.yml (``plugins: [{module:
eventlake.dbt.plugin}]``).

dbt-duckdb calls ``configure_connection`` before it runs the profile's ``attach`` entries, with
``ATTACH IF NOT EXISTS``: the profile's entry for ``lakehouse`` is then a no-op, and it can be
constant. A profile naming the catalog and the lake would enter dbt's partial-parse state check
(the connection info is hashed), so every lake, each test's for one, would cost a full parse.
"""

from __future__ import annotations

import os

from dbt.adapters.duckdb.plugins import BasePlugin

from eventlake.lake.lakehouse import (
    ALIAS,
    attach_sql,
    catalog_from_env,
    install_extensions,
    prepare_catalog,
)
from eventlake.lake.storage import lake_storage


class Plugin(BasePlugin):
    def configure_connection(self, conn) -> None:
        install_extensions(conn)
        lake_dir = os.environ.get("EVENTLAKE_LAKE_DIR") or "lake"
        lake_storage(lake_dir).configure(conn)
        catalog = catalog_from_env()
        prepare_catalog(catalog)
        conn.execute(attach_sql(catalog, lake_dir))

    def configure_cursor(self, cursor) -> None:
        # Unqualified names (control.erasure_requests) resolve in the lakehouse.
        cursor.execute(f"use {ALIAS}")
        # The raw lake source's external_location (_kafka__sources.yml) reads under it.
        lake_dir = (os.environ.get("EVENTLAKE_LAKE_DIR") or "lake").rstrip("/")
        cursor.execute("set variable eventlake_lake_dir = ?", [lake_dir])
