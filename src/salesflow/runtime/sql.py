"""The SQL engine of a home, wired here so the CLI and console share one sandbox."""

from __future__ import annotations

from salesflow.adapters.local.duck_sql import DuckSqlEngine
from salesflow.runtime.settings import Settings


def sql_engine(settings: Settings) -> DuckSqlEngine:
    """Read-only SQL over the home's tables."""
    return DuckSqlEngine(settings.database)
