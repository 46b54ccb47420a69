"""The one place where adapters are built and wired to the pipelines."""

from __future__ import annotations

from dataclasses import dataclass

from salesflow.adapters.local.folder_store import FolderObjectStore
from salesflow.adapters.local.notifiers import FanOutNotifier, LogNotifier, WebhookNotifier
from salesflow.adapters.local.sqlite_batches import SqliteBatchLedger
from salesflow.adapters.local.sqlite_db import connect
from salesflow.adapters.local.sqlite_ledger import SqliteOrderLedger
from salesflow.pipelines.batch import BatchPipeline, BatchSettings
from salesflow.pipelines.orders import IngestSettings, OrdersPipeline
from salesflow.ports import Notifier
from salesflow.retry import RetryPolicy
from salesflow.runtime.settings import OrdersSettings, Settings


@dataclass
class App:
    """Everything a command needs, for one home on the embedded face."""

    settings: Settings
    store: FolderObjectStore
    ledger: SqliteOrderLedger
    orders: OrdersPipeline
    batches: SqliteBatchLedger
    batch: BatchPipeline
    notifier: FanOutNotifier

    def close(self) -> None:
        self.notifier.close()
        self.batches.close()
        self.ledger.close()


def ingest_settings(orders: OrdersSettings, in_process: bool = False) -> IngestSettings:
    """The orders pipeline's settings from [orders]; ``in_process``: never in worker processes
    (the AWS face's boto3 clients do not cross into them)."""
    return IngestSettings(
        chunk_records=orders.chunk_records,
        max_record_bytes=orders.max_record_mb << 20,
        retry=RetryPolicy(orders.retries, orders.retry_base_seconds, orders.retry_max_seconds),
        subprocess_min_bytes=0 if in_process else orders.subprocess_min_mb << 20,
        workers=1 if in_process else orders.workers,
    )


def build_app(settings: Settings) -> App:
    """Open (and create on first use) the bucket and database of settings.home."""
    orders = settings.orders
    store = FolderObjectStore(settings.bucket)
    ledger = SqliteOrderLedger(connect(settings.database))
    pipeline = OrdersPipeline(store, ledger, ingest_settings(orders))
    notifiers: list[Notifier] = [LogNotifier()]
    if settings.notify.webhooks:
        notifiers.append(WebhookNotifier(settings.notify.webhooks, timeout=settings.notify.timeout_seconds))
    notifier = FanOutNotifier(notifiers)
    batches = SqliteBatchLedger(connect(settings.database))
    batch = settings.batch
    batch_pipeline = BatchPipeline(
        store,
        batches,
        notifier,
        BatchSettings(batch.settle_seconds, batch.max_files, tuple(batch.item_key), batch.columns),
    )
    return App(settings, store, ledger, pipeline, batches, batch_pipeline, notifier)
