"""The SQL engine of a home, wired here so the CLI and console share one sandbox."""

from __future__ import annotations

from salesflow.adapters.local.duck_sql import DuckSqlEngine, LakeSource
from salesflow.runtime.settings import Settings


def sql_engine(settings: Settings) -> DuckSqlEngine:
    """Read-only SQL over the home's tables and its lake."""
    from salesflow.pipelines.stream_transform import ERROR_SCHEMA, LAKE_SCHEMA
    from salesflow.runtime.stream import lake_of

    lake = lake_of(settings)
    source = LakeSource(
        settings.lake, lake.files, LAKE_SCHEMA.empty_table(), lake.error_files, ERROR_SCHEMA.empty_table()
    )
    return DuckSqlEngine(settings.database, lake=source)
