"""L4: the control plane's state in SQL (SQLite by default, PostgreSQL in production)."""

from suanli.store.db import Store, StoreError, open_store, sqlite_url
from suanli.store.tables import SCHEMA_VERSION, metadata

__all__ = ["SCHEMA_VERSION", "Store", "StoreError", "metadata", "open_store", "sqlite_url"]
