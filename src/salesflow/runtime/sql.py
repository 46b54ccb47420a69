"""The SQL engine of a home, wired here so the CLI and console share one sandbox."""

from __future__ import annotations

from salesflow.adapters.local.duck_sql import DuckSqlEngine, LakeSource
from salesflow.arrow_tables import empty_table
from salesflow.runtime.settings import Settings


def sql_engine(settings: Settings) -> DuckSqlEngine:
    """Read-only SQL over the home's tables and its lake."""
    from salesflow.pipelines.stream_transform import ERROR_SCHEMA, LAKE_SCHEMA
    from salesflow.runtime.stream import lake_of

    lake = lake_of(settings)
    source = LakeSource(
        settings.lake, lake.current_plan, empty_table(LAKE_SCHEMA), lake.error_files, empty_table(ERROR_SCHEMA)
    )
    return DuckSqlEngine(settings.database, lake=source)
