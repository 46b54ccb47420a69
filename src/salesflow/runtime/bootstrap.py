"""The one place where adapters are built and wired to the pipelines."""

from __future__ import annotations

from dataclasses import dataclass

from salesflow.adapters.local.folder_store import FolderObjectStore
from salesflow.adapters.local.sqlite_db import connect
from salesflow.adapters.local.sqlite_ledger import SqliteOrderLedger
from salesflow.pipelines.orders import IngestSettings, OrdersPipeline
from salesflow.pipelines.retry import RetryPolicy
from salesflow.runtime.settings import Settings


@dataclass
class App:
    """Everything a command needs, for one home on the embedded face."""

    settings: Settings
    store: FolderObjectStore
    ledger: SqliteOrderLedger
    orders: OrdersPipeline

    def close(self) -> None:
        self.ledger.close()


def build_app(settings: Settings) -> App:
    """Open (and create on first use) the bucket and database of settings.home."""
    orders = settings.orders
    store = FolderObjectStore(settings.bucket)
    ledger = SqliteOrderLedger(connect(settings.database))
    pipeline = OrdersPipeline(
        store,
        ledger,
        IngestSettings(
            chunk_records=orders.chunk_records,
            max_record_bytes=orders.max_record_mb << 20,
            retry=RetryPolicy(orders.retries, orders.retry_base_seconds, orders.retry_max_seconds),
            subprocess_min_bytes=orders.subprocess_min_mb << 20,
            workers=orders.workers,
        ),
    )
    return App(settings, store, ledger, pipeline)
