"""One batch at work: the steps of an execution, on polars frames.

Kept apart from batch.py so that watching the bucket, and the orders pipeline's
reader processes, do not load polars (about 0.1 s and tens of MB) until a batch
really runs.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import polars as pl

from salesflow.clock import utc_now
from salesflow.domain.batch import RAW_PREFIX, RowReason, Table, table_of
from salesflow.domain.errors import SalesflowError
from salesflow.domain.notices import Notice, NoticeKind
from salesflow.domain.records import ExecutionStatus
from salesflow.pipelines import batch_frames as frames

if TYPE_CHECKING:
    from polars._typing import ParquetCompression

    from salesflow.pipelines.batch import BatchPipeline

STATE_SUFFIX = ".arrow"  # Arrow IPC: see BatchRun._write_state

KEYS: dict[Table, list[str]] = {
    Table.PRODUCTS: ["product_id"],
    Table.ORDERS: ["order_id"],
    Table.ORDER_ITEMS: ["order_item_id"],
}


@dataclass
class BatchRun:
    """The working state of one batch between its steps."""

    pipeline: BatchPipeline
    batch_id: str
    execution_id: str
    files: list[str]
    checked: list[frames.CheckedFile] = field(default_factory=list)
    state: dict[Table, pl.DataFrame] = field(default_factory=dict)
    new_state_keys: dict[str, str] = field(default_factory=dict)
    touched: set[date] = field(default_factory=set)
    lines: pl.DataFrame | None = None
    rejected: list[tuple[str, int, str, str]] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)
    unknown: int = 0  # valid rows refused later: their order or product is unknown
    refused: dict[str, pl.DataFrame] = field(default_factory=dict)  # per file: rows refused, with reasons
    failed: bool = False
    stored: dict[Table, pl.DataFrame | None] = field(default_factory=dict)  # state before this batch
    writer: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, "batch-writer"))
    writes: list[Future[None]] = field(default_factory=list)

    def execute(self) -> tuple[ExecutionStatus, str | None]:
        """Run every step; cleanup always. Returns the outcome and the error, if any."""
        status, error = ExecutionStatus.SUCCEEDED, None
        try:
            self.step("validate", self.validate)
            self.step("transform", self.transform)
            self.step("publish", self.publish)
            self.step("archive", self.archive)
        except SalesflowError as exc:
            status, error = ExecutionStatus.FAILED, str(exc)
        except pl.exceptions.PolarsError as exc:  # a file polars cannot read is a bad file, not a crash
            status, error = ExecutionStatus.FAILED, f"could not process the batch: {exc}"
        self.failed = status == ExecutionStatus.FAILED
        self._settle_writes()
        self.step("notify", lambda: self.notify(status, error), may_fail=False)
        self.step("cleanup", self.cleanup, may_fail=False)
        return status, error

    def step(self, name: str, action: Callable[[], None], may_fail: bool = True) -> None:
        ledger = self.pipeline.ledger
        ledger.step(self.execution_id, name, "running")
        try:
            action()
        except Exception as exc:
            ledger.step(self.execution_id, name, "failed", {"error": str(exc)})
            if may_fail:
                raise
            return
        ledger.step(self.execution_id, name, "succeeded", self.counts.get(name))

    # -- steps ----------------------------------------------------------------------

    def validate(self) -> None:
        store, settings = self.pipeline.store, self.pipeline.settings
        frames.import_numpy_meanwhile()

        def read(key: str) -> frames.CheckedFile:
            table = table_of(key)
            assert table is not None
            with store.open(key) as stream:
                return frames.read_checked(stream, key, table, settings.columns.get(table, {}))

        # Two files at a time: one file's read leaves a core idle for a third of its time (its
        # UTF-8 check and the steps between polars' calls hold the GIL), which the other's
        # parsing fills. The results are taken in file order, which deduplication relies on.
        # A bad file stops the batch: map cancels the reads still queued behind it.
        with ThreadPoolExecutor(2, "batch-reader") as readers:
            for checked in readers.map(read, self.files):
                self.checked.append(checked)
                key = checked.key
                name = key.removeprefix(RAW_PREFIX)
                valid = checked.valid.drop(_as_read(checked.valid))
                self._write_later(f"validated/{self.batch_id}/{name.removesuffix('.csv')}.parquet", valid)
                self.refused[key] = checked.rejected
        self.counts["validate"] = {
            "files": len(self.checked),
            "read": sum(c.rows for c in self.checked),
            "valid": sum(c.valid.height for c in self.checked),
            "rejected": sum(c.rejected.height for c in self.checked),
        }

    def transform(self) -> None:
        new, last_items, removed = self._deduplicated()
        self.checked.clear()  # the files' rows live on in `new` and self.state: free the copies early
        items = new.get(Table.ORDER_ITEMS)
        orders = self.state.get(Table.ORDERS, _empty_orders())
        products = self.state.get(Table.PRODUCTS, _empty_products())
        at = None  # where the batch's items' orders and products are in those frames
        stored_items = self._stored(Table.ORDER_ITEMS)
        if items is not None:
            items, at = self._known_items(items, last_items, orders, products)
            new[Table.ORDER_ITEMS] = items
            self.state[Table.ORDER_ITEMS] = frames.replace_keys(stored_items, items, self._key(Table.ORDER_ITEMS))
        # The validated rows' writes end before the lines take their memory: the frames they hold
        # keep the files' text alive (up to 250 MB more at the peak on the 1M batch). The state is
        # alive until the lines are made anyway, so its write overlaps with making them (the core
        # it uses sat idle while the step waited for it): on the 1M batch 4.47-4.72 s against
        # 4.60-4.92 s, four alternating runs each. That costs up to 180 MB of peak, which the
        # allocator setting in salesflow/__init__.py gives back (1.23-1.26 GB against 1.24-1.33).
        self._writes_done()
        self._write_state()
        if items is not None and at is not None and (stored_items is None or stored_items.is_empty()):
            all_lines = frames.lines(orders, items, products, at)  # every item is the batch's
            self.touched = frames.dates_of(all_lines)  # and no earlier line moved
        else:
            # The stored items' orders and products are looked up too (either may have changed),
            # but only on the dates this batch touches: their KPIs are recomputed from all their
            # lines, and no other line is needed (a small batch on the benchmark's state would
            # otherwise rebuild all 2.9M lines: 0.8 s of its 2.5 s).
            self.touched = self._touched_dates(new)
            all_lines = frames.lines(*self._on_dates(orders, self.touched), products)
        # Every line is on a touched date now (the first batch's dates are its lines'; a later
        # batch joins only the orders on its touched dates). Only the columns the KPIs read:
        # once the lines are written, the others are freed.
        self.lines = all_lines.select(frames.KPI_COLUMNS)
        batch_lines = self._lines_of(new.get(Table.ORDER_ITEMS, _empty_items()), all_lines)
        self._write_later(f"processed/lines/{self.batch_id}.parquet", batch_lines.drop(frames.KEYS), statistics=True)
        # The state is on its way to the store (the writer holds it until written); the steps
        # after this one need only the lines: hundreds of MB are freed before the KPIs.
        self.state.clear()
        self.stored.clear()
        for source, refused in self.refused.items():
            self._reject(source, refused)
        self.refused.clear()
        valid = self.counts["validate"]["valid"]
        self.counts["transform"] = {
            "duplicates_removed": removed,
            "lines": batch_lines.height,
            "dates_touched": len(self.touched),
        }
        self.counts.update(
            read=self.counts["validate"]["read"],
            valid=valid - self.unknown,
            rejected=len(self.rejected),
            duplicates_removed=removed,
        )

    def publish(self) -> None:
        assert self.lines is not None
        lines, self.lines = self.lines, None
        # The KPIs are computed on a thread, while the lines' write ends (polars, without the
        # GIL) and the ledger writes the refused rows. numpy's calls and sqlite3's binding of
        # each row both hold the GIL, so those two mostly take turns (alone 0.29-0.34 s and
        # 0.23-0.28 s, together about the sum), yet the step is a little shorter this way than
        # with the KPIs first: median 0.69 s against 0.76 s, six alternating runs each
        # (decisions.md, "Batch speed, measured 2026-11-26 (third)"). On numbers and the few
        # columns they read, the KPIs add little to the memory the lines hold anyway.
        with ThreadPoolExecutor(1, "batch-kpis") as pool:
            computing = pool.submit(frames.kpis, lines)
            del lines
            self._writes_done()  # every object the manifest will name exists before it names them
            self.pipeline.ledger.publish(
                self.batch_id,
                self.new_state_keys,
                sorted(self.touched),
                computing.result,
                self.rejected,
                self._totals(),
            )
        order_kpis, category_kpis = computing.result()
        self._export_kpis()
        self.counts["publish"] = {"order_kpi_rows": len(order_kpis), "category_kpi_rows": len(category_kpis)}

    def archive(self) -> None:
        store = self.pipeline.store
        for key in self.files:
            store.move(key, f"archive/{self.batch_id}/{key.removeprefix(RAW_PREFIX)}")
        self.counts["archive"] = {"files": len(self.files)}

    def notify(self, status: ExecutionStatus, error: str | None) -> None:
        ok = status == ExecutionStatus.SUCCEEDED
        totals = self._totals()
        summary = (
            f"batch {self.batch_id}: {totals.get('read', 0):,} rows read, {totals.get('valid', 0):,} valid, "
            f"{totals.get('rejected', 0):,} refused, {len(self.touched)} dates recomputed"
            if ok
            else f"batch {self.batch_id} failed: {error}; the raw files stay in raw-data/ for a retry"
        )
        self.pipeline.notifier.notify(
            Notice(
                NoticeKind.EXECUTION_SUCCEEDED if ok else NoticeKind.EXECUTION_FAILED,
                f"batch {self.batch_id}",
                summary,
                {"batch": self.batch_id, "execution": self.execution_id, "error": error, **totals},
                utc_now(),
            )
        )

    def cleanup(self) -> None:
        """Always: drop state objects no longer current, and what a failed batch staged."""
        store = self.pipeline.store
        current = set(self.pipeline.ledger.state_keys().values())
        for info in list(store.list("processed/state/")):
            if info.key not in current:
                store.delete(info.key)
        if self.failed:
            store.delete(f"processed/lines/{self.batch_id}.parquet")
            for prefix in (f"validated/{self.batch_id}/", f"rejected/{self.batch_id}/"):
                for info in list(store.list(prefix)):
                    store.delete(info.key)

    # -- helpers --------------------------------------------------------------------

    def _key(self, table: Table) -> list[str]:
        """The columns that identify a row of table (items: batch.item_key)."""
        return list(self.pipeline.settings.item_key) if table is Table.ORDER_ITEMS else KEYS[table]

    def _deduplicated(self) -> tuple[dict[Table, pl.DataFrame], pl.Series | None, int]:
        """Per table, the batch's rows with one per key (the last), and the state they make with
        the stored rows; which of the items are the last of their key (None: all), as the items
        are not filtered here; and how many rows were removed as duplicates."""
        new: dict[Table, pl.DataFrame] = {}
        last_items = None
        removed = 0
        for table in Table:
            key = self._key(table)
            rows = [c.valid for c in self.checked if c.table is table and not c.valid.is_empty()]
            if table is Table.ORDER_ITEMS:
                # Items keep their text columns until the unknown ones are refused (as they came),
                # and are filtered once, for their keys and their orders and products together
                # (_known_items): each filter copies the 3M rows' columns.
                kept, last_items = frames.last_per_key(rows, key)
                duplicates = 0 if last_items is None else last_items.len() - int(last_items.sum())
            else:
                # The state's columns only: the filter copies none of those left behind.
                kept, duplicates = frames.keyed_last([_for_state(frame) for frame in rows], key)
            removed += duplicates
            stored = self._stored(table)
            if not kept.is_empty():
                new[table] = kept
                if table is not Table.ORDER_ITEMS:
                    self.state[table] = frames.replace_keys(stored, kept, key)
            elif stored is not None:
                self.state[table] = stored
        return new, last_items, removed

    def _write_state(self) -> None:
        """The state is read back whole by the next batch and replaced by it: written as Arrow IPC
        (uncompressed), the columns as they are in memory. Per 2.9M items 0.08 s of CPU (200 MB)
        against 0.30 s as uncompressed Parquet (94 MB); reading it back costs the same."""
        for table, frame in self.state.items():
            key = f"processed/state/{table}/{self.batch_id}{STATE_SUFFIX}"
            self._write_later(key, frame, arrow=True)
            self.new_state_keys[str(table)] = key

    def _write_later(
        self,
        key: str,
        frame: pl.DataFrame,
        statistics: bool = False,
        compression: ParquetCompression = "lz4",
        arrow: bool = False,
    ) -> None:
        """Write a Parquet object (or an Arrow IPC one) on the writer thread (polars writes
        without the GIL), overlapping with the work that follows; _writes_done waits and raises
        its errors.

        Per 3M items: lz4 with column statistics 0.71 s of CPU, without 0.61 s, uncompressed
        0.49 s (twice the bytes). Statistics (min/max per row group) serve readers that filter:
        only the processed lines get them."""
        store = self.pipeline.store

        def write() -> None:
            with store.writer(key) as out:
                if arrow:
                    frame.write_ipc(out, compression="uncompressed")
                else:
                    frame.write_parquet(out, compression=compression, statistics=statistics)

        self.writes.append(self.writer.submit(write))

    def _settle_writes(self) -> None:
        """After a failure: let writes in flight end (cleanup then removes what they wrote)."""
        for future in self.writes:
            future.exception()
        self.writes = []
        self.writer.shutdown(wait=True)

    def _writes_done(self) -> None:
        pending, self.writes = self.writes, []
        wait(pending)  # every write has ended before an error of one is raised: none goes on behind us
        for future in pending:
            future.result()

    def _lines_of(self, items: pl.DataFrame, all_lines: pl.DataFrame) -> pl.DataFrame:
        """The lines of the batch's items (all of them when nothing was stored before)."""
        if items.height == all_lines.height:
            return all_lines
        key = self._key(Table.ORDER_ITEMS)
        if len(key) == 1:
            return all_lines.filter(pl.col(key[0]).is_in(items.get_column(key[0]).implode()))
        return all_lines.join(items.select(key), on=key)

    def _stored(self, table: Table) -> pl.DataFrame | None:
        """The table as earlier batches left it (read once per batch), or None."""
        if table not in self.stored:
            key = self.pipeline.ledger.state_keys().get(str(table))
            if key is None:
                self.stored[table] = None
            else:
                with self.pipeline.store.open(key) as stream:
                    # Parquet: the state as versions before 2026-11-26 wrote it (and any column
                    # they kept that is no longer used is left behind).
                    read = pl.read_ipc(stream) if key.endswith(STATE_SUFFIX) else pl.read_parquet(stream)
                    self.stored[table] = _for_state(read)
        return self.stored[table]

    def _known_items(
        self, items: pl.DataFrame, last: pl.Series | None, orders: pl.DataFrame, products: pl.DataFrame
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Of the items that are the last of their key (last: None when all are), those whose
        order and product are known, in the state's columns, with the positions of those (for
        frames.lines); the others refused with reasons. (Positions are found for the replaced
        items too: 1 % more work, against a copy of every item to leave them out first.)"""
        at = frames.positions(orders, products, items)
        checked = items.with_columns(
            at.get_column(frames.ORDER_KEY).is_not_null().alias("_order_known"),
            at.get_column(frames.PRODUCT_KEY).is_not_null().alias("_product_known"),
        )
        known = checked.get_column("_order_known") & checked.get_column("_product_known")
        kept, refused = (known, ~known) if last is None else (known & last, ~known & last)
        unknown = checked.filter(refused)
        self.unknown = unknown.height
        if unknown.height:
            self._refuse_unknown(unknown)
        items = _for_state(items)  # before the filter: the columns left behind are not copied
        if kept.all():
            return items, at
        return items.filter(kept), at.filter(kept)

    def _refuse_unknown(self, unknown: pl.DataFrame) -> None:
        """Items whose order or product is unknown, as they came, to their files' refused rows."""
        reasons = pl.concat_list(
            pl.when(~pl.col("_order_known")).then(pl.lit(RowReason.UNKNOWN_ORDER.value)),
            pl.when(~pl.col("_product_known")).then(pl.lit(RowReason.UNKNOWN_PRODUCT.value)),
        ).list.drop_nulls()
        as_read = set(_as_read(unknown))
        as_text = unknown.with_columns(reasons.alias(frames.REASONS)).select(
            frames.ROW,
            frames.SOURCE,
            frames.REASONS,
            *(
                pl.col(frames.AS_READ + c if frames.AS_READ + c in as_read else c).cast(pl.String).alias(c)
                for c in unknown.columns
                if not c.startswith("_") and c != "returned"
            ),
        )
        for (source,), rows in as_text.group_by(frames.SOURCE):
            refused = rows.drop(frames.SOURCE)
            earlier = self.refused.get(str(source))
            self.refused[str(source)] = (
                refused if earlier is None else pl.concat([earlier, refused], how="diagonal_relaxed")
            )

    def _touched_dates(self, new: dict[Table, pl.DataFrame]) -> set[date]:
        """The dates whose KPIs this batch may change: those of the orders it brought, of the
        orders of the items it brought, of the orders with an item of a product it brought, and
        the dates an order or item it changed was on before. (A date with no line of these is
        only recomputed for nothing.)

        As soon as they hold every date of the orders, stored and new, the rest is not looked
        for: a 1M-order batch delivered again on its own state spent 1.9 s on hash joins that
        could add no date."""
        orders = self.state.get(Table.ORDERS, _empty_orders())
        stored_orders = self._stored(Table.ORDERS)
        every = _dates(orders) | (_dates(stored_orders) if stored_orders is not None else set())
        touched = _dates(new[Table.ORDERS]) if Table.ORDERS in new else set()
        if touched >= every:
            return touched
        items = self.state.get(Table.ORDER_ITEMS, _empty_items())
        order_ids = [new[Table.ORDER_ITEMS].get_column("order_id")] if Table.ORDER_ITEMS in new else []
        if Table.PRODUCTS in new:
            with_product = pl.col("product_id").is_in(new[Table.PRODUCTS].get_column("product_id").implode())
            order_ids.append(items.filter(with_product).get_column("order_id"))
        if order_ids:
            affected = pl.concat(order_ids).unique()
            touched |= _dates(orders.filter(pl.col("order_id").is_in(affected.implode())))
        if stored_orders is None or touched >= every:
            return touched
        stored_items = self._stored(Table.ORDER_ITEMS)
        if Table.ORDER_ITEMS in new and stored_items is not None:  # an item moved to another order
            key = self._key(Table.ORDER_ITEMS)
            before = stored_items.join(new[Table.ORDER_ITEMS].select(key), on=key).select("order_id")
            touched |= _dates(stored_orders.join(before.unique(), on="order_id"))
        if Table.ORDERS in new:  # an order that moved to another date leaves its old date to recompute
            touched |= _dates(stored_orders.join(new[Table.ORDERS].select("order_id"), on="order_id"))
        return touched

    def _on_dates(self, orders: pl.DataFrame, dates: set[date]) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The orders on those dates, and the stored items of those orders (all of them, not a
        copy, when the dates are every order's: a new products.csv touches them all)."""
        items = self.state.get(Table.ORDER_ITEMS, _empty_items())
        on_dates = orders.get_column("created_at").dt.date().is_in(list(dates))
        if on_dates.all():
            return orders, items
        orders = orders.filter(on_dates)
        return orders, items.filter(pl.col("order_id").is_in(orders.get_column("order_id").implode()))

    def _reject(self, key: str, rejected: pl.DataFrame) -> None:
        """Refused rows of one file: to rejected/<batch>/<file>.csv and to rejected_rows."""
        if rejected.is_empty():
            return
        rejected = rejected.sort(frames.ROW)
        buffer = io.BytesIO()
        rejected.with_columns(pl.col(frames.REASONS).list.join(";")).drop(frames.ROW).write_csv(buffer)
        with self.pipeline.store.writer(f"rejected/{self.batch_id}/{key.removeprefix(RAW_PREFIX)}") as out:
            out.write(buffer.getvalue())
        # The JSON is built by polars, column-wise: a Python dict and to_json per row took about 1 s
        # per 100,000 refused rows (with the garbage collector's passes over the tuples they leave).
        # Every value is text here, and polars escapes it as to_json does.
        record = [name for name in rejected.columns if name not in (frames.ROW, frames.REASONS)]
        self.rejected.extend(
            rejected.select(
                pl.lit(key),
                frames.ROW,
                pl.format('["{}"]', pl.col(frames.REASONS).list.join('","')),  # reason codes need no escaping
                pl.struct(pl.col(record).cast(pl.String)).struct.json_encode(),
            ).rows()
        )

    def _totals(self) -> dict[str, Any]:
        return {k: self.counts[k] for k in ("read", "valid", "rejected", "duplicates_removed") if k in self.counts}

    def _export_kpis(self) -> None:
        store, ledger = self.pipeline.store, self.pipeline.ledger
        for table in ("order_kpi", "category_kpi"):
            rows = ledger.kpis(table)
            with store.writer(f"processed/kpi/{table}.parquet") as out:
                pl.DataFrame(rows, infer_schema_length=None).write_parquet(out, compression="lz4")


def _for_state(frame: pl.DataFrame) -> pl.DataFrame:
    """The columns later steps and batches use: the text the returned flag was read from, and
    where each row came from, are left behind (less to join, hold and write)."""
    return frame.drop(frames.ROW, frames.SOURCE, "status", "returned_at", *_as_read(frame), strict=False)


def _dates(orders: pl.DataFrame) -> set[date]:
    return set(orders.get_column("created_at").dt.date().unique().to_list())


def _as_read(frame: pl.DataFrame) -> list[str]:
    """The columns that keep converted values' text until the rows can no longer be refused."""
    return [name for name in frame.columns if name.startswith(frames.AS_READ)]


def _empty_orders() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "order_id": pl.String,
            "user_id": pl.String,
            "created_at": pl.Datetime("us", "UTC"),
            "returned": pl.Boolean,
        }
    )


def _empty_items() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "order_item_id": pl.String,
            "order_id": pl.String,
            "product_id": pl.String,
            "sale_price": frames.MONEY,
            "quantity": pl.Int64,
            "returned": pl.Boolean,
        }
    )


def _empty_products() -> pl.DataFrame:
    return pl.DataFrame(schema={"product_id": pl.String, "category": pl.String})
