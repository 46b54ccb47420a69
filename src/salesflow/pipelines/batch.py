"""The batch pipeline: CSV files under raw-data/ -> validated data, processed lines, KPIs.

A batch takes every pending file at the moment it starts (later files form
the next batch) and runs one execution with the steps validate, transform,
publish, archive, notify, and cleanup, which always runs. Nothing is visible
until publish, which swaps the processed state and writes the KPIs of every
date the batch touched in one transaction; a batch that fails or crashes
before it leaves the raw files pending and the previous KPIs untouched.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from salesflow.clock import utc_now
from salesflow.domain.batch import RAW_PREFIX, Table, table_of
from salesflow.domain.records import Execution, ExecutionStatus
from salesflow.logcontext import bound
from salesflow.ports import BatchLedger, Notifier, ObjectInfo, ObjectStore


@dataclass(frozen=True, slots=True)
class BatchSettings:
    settle_seconds: float = 2.0
    max_files: int = 100
    item_key: tuple[str, ...] = ("order_item_id",)
    columns: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # table -> canonical -> name in file


class BatchPipeline:
    """Collects raw-data files and runs batches over them."""

    def __init__(
        self, store: ObjectStore, ledger: BatchLedger, notifier: Notifier, settings: BatchSettings | None = None
    ) -> None:
        self.store = store
        self.ledger = ledger
        self.notifier = notifier
        self.settings = settings or BatchSettings()
        # Files (key, modified time) of batches that failed in this process: not started again
        # until one of them changes or a new file arrives, or the next `salesflow run`.
        self._failed: set[frozenset[tuple[str, float]]] = set()

    # -- trigger --------------------------------------------------------------------

    def register(self, info: ObjectInfo) -> bool:
        """Note a raw-data object; False for keys that are no batch input (left alone)."""
        table = table_of(info.key)
        if table is None:
            return False
        return self.ledger.register_file(info.key, info.version, table, info.modified_at)

    def ready(self, now: float, at_once: bool = False) -> list[str] | None:
        """The files of the next batch, if one is ready: products known (in this batch or
        stored), at least one orders and one order_items file, and either nothing new for
        settle_seconds, max_files pending, or at_once."""
        pending = self.ledger.pending_files()
        tables = {f.table for f in pending}
        products_known = Table.PRODUCTS in tables or Table.PRODUCTS in self.ledger.state_keys()
        if not (products_known and Table.ORDERS in tables and Table.ORDER_ITEMS in tables):
            return None
        if frozenset((f.key, f.modified_at) for f in pending) in self._failed:
            return None
        settled = now - max(f.modified_at for f in pending) >= self.settings.settle_seconds
        if at_once or settled or len(pending) >= self.settings.max_files:
            return [f.key for f in pending]
        return None

    # -- one batch ------------------------------------------------------------------

    def run(self, files: Sequence[str]) -> Execution:
        """Run one batch over files; returns its execution (succeeded or failed)."""
        batch_id = f"b-{utc_now()[:10].replace('-', '')}-{uuid.uuid4().hex[:6]}"
        taken = frozenset((f.key, f.modified_at) for f in self.ledger.pending_files() if f.key in set(files))
        batch = self.ledger.start_batch(batch_id, files)
        from salesflow.pipelines.batch_run import BatchRun  # polars: loaded only when a batch runs

        with bound(execution_id=batch.execution_id, batch=batch_id):
            status, error = BatchRun(self, batch_id, batch.execution_id, sorted(files)).execute()
        if status == ExecutionStatus.FAILED:
            self._failed.add(taken)
        self.ledger.finish_batch(batch_id, status, error)
        return self.ledger.execution_of(batch_id)

    def recover(self) -> list[Execution]:
        """Settle batches a crash left running: finished if they were published (archive
        and cleanup are safe to repeat), else rolled back (their files pending again)."""
        settled = []
        for batch in self.ledger.batches(status="running"):
            from salesflow.pipelines.batch_run import BatchRun

            run = BatchRun(self, batch.id, batch.execution_id, batch.files, failed=not batch.published)
            status = ExecutionStatus.FAILED
            error: str | None = "interrupted before publish; rolled back, files pending again"
            if batch.published:
                present = {info.key for info in self.store.list(RAW_PREFIX)}
                run.files = [key for key in batch.files if key in present]
                run.step("archive", run.archive, may_fail=False)
                status, error = ExecutionStatus.SUCCEEDED, None
            run.step("cleanup", run.cleanup, may_fail=False)
            self.ledger.finish_batch(batch.id, status, error)
            settled.append(self.ledger.execution_of(batch.id))
        return settled
