"""The batch container: ``python -m salesflow.aws.batch_task STEP`` (validate | transform | publish | archive).

The batch state machine (deploy/salesflow_stacks/batch.py) runs one Fargate task per step,
with ``BATCH_ID`` and ``BATCH_INPUT`` (its input ``$.batch``: ``{"batch_id", "files"}``,
as presence_check made it) in the environment. Each task runs the embedded face's batch
code, ``BatchRun`` (pipelines/batch_run.py), against the S3 bucket. Exit 0, or 1 to fail
the batch (the machine then notifies and cleans up); 2 for a usage error.

Design
------
- **Ledger**: the embedded face's SQLite ``SqliteBatchLedger`` (batches, steps, processed-
  state manifest, KPI rows, refused rows) in one file that lives in the bucket at
  ``batches/ledger.db``. A step downloads it, works, and uploads it with ``If-Match`` on
  the ETag it downloaded (``If-None-Match: *`` for the first batch): S3 refuses the
  write if another task replaced the file meanwhile, so no task overwrites another's
  state (the step then fails, its changes unwritten). One batch runs at a time anyway
  (presence_check's ``batches/running.json``).
- **Where the steps run**: ``BatchRun`` keeps the batch's data in memory between
  validate, transform and publish (the checked files' frames, the new state, the
  enriched lines, the refused rows, the counts). Persisting all of that between
  processes would mean writing and reading every frame again, so the ``validate`` task
  runs validate, transform and publish (into the ledger, ``processed/`` and
  ``rejected/``) in one process. The ``transform`` task only verifies in the ledger
  that transform succeeded, and says so in its log.
- ``publish`` copies the KPI rows of every date the batch touched (recorded in the
  ledger with the publish step) from the ledger into the DynamoDB tables ``OrderKPI``
  and ``CategoryKPI`` (DynamoKpiTables.publish: rows replaced, rows of a touched date
  that no longer exist deleted). It is safe to repeat.
- ``archive`` moves the batch's raw files to ``archive/<batch>/``, drops processed state
  objects that are no longer current, and closes the batch as succeeded.
- A step that fails records the failure in the ledger (the batch failed; what it staged
  removed, as BatchRun.cleanup does) and exits 1. Its raw files stay in ``raw-data/``,
  so the next batch takes them again (rows are keyed: nothing counts twice). If the
  DynamoDB copy fails after the ledger was published, the next batch that touches those
  dates writes them again; until then the tables may lag the ledger for those dates.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from salesflow.adapters.aws import s3_conditional_file
from salesflow.adapters.aws.clients import client
from salesflow.adapters.aws.dynamo_kpis import DynamoKpiTables
from salesflow.adapters.aws.s3_store import S3ObjectStore
from salesflow.adapters.local.notifiers import LogNotifier
from salesflow.adapters.local.sqlite_batches import Batch, SqliteBatchLedger
from salesflow.adapters.local.sqlite_db import connect
from salesflow.domain.batch import RAW_PREFIX, CategoryKpi, OrderKpi, table_of
from salesflow.domain.errors import NotFound, PermanentError, SalesflowError
from salesflow.domain.records import ExecutionStatus
from salesflow.jsoncodec import from_json
from salesflow.pipelines.batch import BatchPipeline, BatchSettings
from salesflow.runtime.settings import Settings

log = logging.getLogger("salesflow.batch_task")

LEDGER_KEY = "batches/ledger.db"
STEPS = ("validate", "transform", "publish", "archive")
KPI_STEP = "kpi_tables"  # the ledger's name for the DynamoDB copy made by the publish task


class StepFailed(SalesflowError):
    """The step ran and failed; the failure is recorded in the ledger."""


@dataclass(frozen=True)
class TaskDeps:
    """What a step needs: the bucket (store and raw client), the KPI tables, the batch settings."""

    s3: Any
    store: S3ObjectStore
    kpis: DynamoKpiTables
    settings: BatchSettings
    workdir: Path


@dataclass(frozen=True)
class BatchSpec:
    batch_id: str
    files: list[str]


def run_step(step: str, spec: BatchSpec, deps: TaskDeps) -> dict[str, Any]:
    """Run one step of the batch; returns what it did. Raises StepFailed (recorded in the
    ledger) when the batch must fail, ConcurrentUpdate when the ledger changed under it."""
    action = {"validate": _validate, "transform": _transform, "publish": _publish, "archive": _archive}[step]
    failure: BaseException | None = None
    with _ledger(deps) as ledger:
        try:
            result = action(spec, ledger, deps)
        except StepFailed as exc:
            failure = exc
        except SalesflowError as exc:
            _fail(spec, ledger, deps, step, str(exc))
            failure = exc
    if failure is not None:
        raise StepFailed(f"{step} of batch {spec.batch_id} failed: {failure}") from failure
    return result


@contextmanager
def _ledger(deps: TaskDeps) -> Iterator[SqliteBatchLedger]:
    """The ledger file from the bucket; written back (If-Match) only when the block exits cleanly."""
    path = deps.workdir / "ledger.db"
    for stale in deps.workdir.glob("ledger.db*"):
        stale.unlink()
    etag = s3_conditional_file.fetch(deps.s3, deps.store.bucket, LEDGER_KEY, path)
    conn = connect(path)
    ledger = SqliteBatchLedger(conn)
    try:
        yield ledger
        conn.execute("PRAGMA journal_mode=DELETE")  # everything in the one file, no -wal beside it
    finally:
        conn.close()
    s3_conditional_file.store(deps.s3, deps.store.bucket, LEDGER_KEY, path, etag)


def _pipeline(ledger: SqliteBatchLedger, deps: TaskDeps) -> BatchPipeline:
    return BatchPipeline(deps.store, ledger, LogNotifier(), deps.settings)


def _validate(spec: BatchSpec, ledger: SqliteBatchLedger, deps: TaskDeps) -> dict[str, Any]:
    """validate, transform and publish (into the ledger and the bucket) in this one process."""
    from salesflow.pipelines.batch_run import BatchRun  # polars, as in BatchPipeline.run

    batch = _known_or_started(spec, ledger, deps)
    if batch.published:
        log.info("batch %s is already published; validate has nothing to do", spec.batch_id)
        return batch.counts
    run = BatchRun(_pipeline(ledger, deps), spec.batch_id, batch.execution_id, sorted(spec.files))

    def publish() -> None:
        run.publish()
        run.counts["publish"]["dates"] = [day.isoformat() for day in sorted(run.touched)]

    import polars as pl

    try:
        run.step("validate", run.validate)
        run.step("transform", run.transform)
        log.info("transform ran in the validate task: BatchRun keeps its frames in memory until publish")
        run.step("publish", publish)
    except (SalesflowError, pl.exceptions.PolarsError) as exc:
        error = str(exc) if isinstance(exc, SalesflowError) else f"could not process the batch: {exc}"
        run.failed = True
        run._settle_writes()  # as BatchRun.execute: writes in flight end before cleanup removes them
        run.step("cleanup", run.cleanup, may_fail=False)
        ledger.finish_batch(spec.batch_id, ExecutionStatus.FAILED, error)
        raise StepFailed(error) from exc
    run._settle_writes()
    return dict(run.counts)


def _known_or_started(spec: BatchSpec, ledger: SqliteBatchLedger, deps: TaskDeps) -> Batch:
    """The batch as the ledger knows it (a repeated validate), or started now with its files."""
    try:
        return ledger.batch(spec.batch_id)
    except NotFound:
        pass
    for key in spec.files:
        info, table = deps.store.stat(key), table_of(key)
        if table is None:
            raise PermanentError(f"{key} is no batch input (raw-data/products.csv, orders/, order_items/)")
        ledger.register_file(key, info.version, table, info.modified_at)
    return ledger.start_batch(spec.batch_id, spec.files)


def _transform(spec: BatchSpec, ledger: SqliteBatchLedger, deps: TaskDeps) -> dict[str, Any]:
    steps = _steps(spec, ledger)
    if steps.get("transform", {}).get("status") != "succeeded":
        raise StepFailed(f"the validate task did not complete transform of batch {spec.batch_id}")
    log.info("transform of batch %s ran in the validate task (see its log); nothing to do here", spec.batch_id)
    detail: dict[str, Any] = steps["transform"].get("detail") or {}
    return detail


def _publish(spec: BatchSpec, ledger: SqliteBatchLedger, deps: TaskDeps) -> dict[str, Any]:
    """Copy the KPI rows of the batch's touched dates from the ledger into DynamoDB."""
    published = _steps(spec, ledger).get("publish", {})
    if published.get("status") != "succeeded":
        raise StepFailed(f"batch {spec.batch_id} was not published by its validate task")
    days = sorted(set((published.get("detail") or {}).get("dates", [])))
    execution_id = ledger.batch(spec.batch_id).execution_id
    ledger.step(execution_id, KPI_STEP, "running")
    order_rows = _rows_of_days(ledger, "order_kpi", days)
    category_rows = _rows_of_days(ledger, "category_kpi", days)
    deps.kpis.publish(
        [date.fromisoformat(day) for day in days],
        [_order_kpi(row) for row in order_rows],
        [_category_kpi(row) for row in category_rows],
    )
    counts = {"dates": len(days), "order_kpi_rows": len(order_rows), "category_kpi_rows": len(category_rows)}
    ledger.step(execution_id, KPI_STEP, "succeeded", counts)
    log.info("KPIs of %s dates copied to DynamoDB: %s", len(days), counts)
    return counts


def _archive(spec: BatchSpec, ledger: SqliteBatchLedger, deps: TaskDeps) -> dict[str, Any]:
    from salesflow.pipelines.batch_run import BatchRun

    batch = ledger.batch(spec.batch_id)
    if not batch.published:
        raise StepFailed(f"batch {spec.batch_id} is not published; its files stay in raw-data/")
    present = {info.key for info in deps.store.list(RAW_PREFIX)}
    run = BatchRun(_pipeline(ledger, deps), spec.batch_id, batch.execution_id, [k for k in batch.files if k in present])
    run.step("archive", run.archive)  # a repeated archive moves only what is still there
    run.step("cleanup", run.cleanup, may_fail=False)
    ledger.finish_batch(spec.batch_id, ExecutionStatus.SUCCEEDED)
    return dict(run.counts.get("archive", {}))


def _fail(spec: BatchSpec, ledger: SqliteBatchLedger, deps: TaskDeps, step: str, error: str) -> None:
    """Record a failed step and close the batch as failed (if the ledger knows it)."""
    try:
        batch = ledger.batch(spec.batch_id)
    except NotFound:
        return
    ledger.step(batch.execution_id, KPI_STEP if step == "publish" else step, "failed", {"error": error})
    ledger.finish_batch(spec.batch_id, ExecutionStatus.FAILED, error)


def _steps(spec: BatchSpec, ledger: SqliteBatchLedger) -> dict[str, dict[str, Any]]:
    try:
        batch = ledger.batch(spec.batch_id)
    except NotFound:
        raise StepFailed(f"batch {spec.batch_id} is not in the ledger: its validate task did not run") from None
    return {row["step"]: row for row in ledger.steps(batch.execution_id)}


def _rows_of_days(ledger: SqliteBatchLedger, table: str, days: Sequence[str]) -> list[dict[str, Any]]:
    if not days:
        return []
    wanted = set(days)
    return [row for row in ledger.kpis(table, days[0], days[-1]) if row["order_date"] in wanted]


def _order_kpi(row: dict[str, Any]) -> OrderKpi:
    return OrderKpi(
        order_date=date.fromisoformat(row["order_date"]),
        total_orders=int(row["total_orders"]),
        total_revenue=Decimal(str(row["total_revenue"])),
        total_items_sold=int(row["total_items_sold"]),
        return_rate=Decimal(str(row["return_rate"])),
        unique_customers=int(row["unique_customers"]),
    )


def _category_kpi(row: dict[str, Any]) -> CategoryKpi:
    return CategoryKpi(
        category=str(row["category"]),
        order_date=date.fromisoformat(row["order_date"]),
        daily_revenue=Decimal(str(row["daily_revenue"])),
        avg_order_value=Decimal(str(row["avg_order_value"])),
        avg_return_rate=Decimal(str(row["avg_return_rate"])),
    )


def spec_from_env(environ: dict[str, str] | os._Environ[str]) -> BatchSpec:
    """The batch from BATCH_ID and BATCH_INPUT (the machine's ``$.batch`` as JSON)."""
    batch_id = environ.get("BATCH_ID", "")
    try:
        given = from_json(environ.get("BATCH_INPUT") or "{}")
    except ValueError as exc:
        raise PermanentError(f"BATCH_INPUT is not JSON ({exc}); the state machine passes $.batch") from None
    batch_id = batch_id or str(given.get("batch_id") or "")
    files = given.get("files")
    if not batch_id or not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise PermanentError('set BATCH_ID and BATCH_INPUT = {"batch_id": ..., "files": ["raw-data/...", ...]}')
    return BatchSpec(batch_id, [str(f) for f in files])


def build_deps(settings: Settings, workdir: Path) -> TaskDeps:
    aws, batch = settings.aws, settings.batch
    s3 = client("s3", aws.region, aws.endpoint_url)
    return TaskDeps(
        s3=s3,
        store=S3ObjectStore(s3, aws.bucket),
        kpis=DynamoKpiTables(
            client("dynamodb", aws.region, aws.endpoint_url), aws.order_kpi_table, aws.category_kpi_table
        ),
        settings=BatchSettings(batch.settle_seconds, batch.max_files, tuple(batch.item_key), batch.columns),
        workdir=workdir,
    )


def main(argv: Sequence[str] | None = None, make_deps: Callable[[Path], TaskDeps] | None = None) -> int:
    """The container's entry point: 0 done, 1 the batch must fail, 2 a usage error."""
    args = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if len(args) != 1 or args[0] not in STEPS:
        print(f"usage: python -m salesflow.aws.batch_task {{{'|'.join(STEPS)}}}", file=sys.stderr)
        return 2
    try:
        spec = spec_from_env(os.environ)
    except PermanentError as exc:
        log.error("%s", exc)
        return 2
    with tempfile.TemporaryDirectory(prefix="salesflow-batch-") as tmp:
        deps = (make_deps or (lambda path: build_deps(Settings(), path)))(Path(tmp))
        try:
            result = run_step(args[0], spec, deps)
        except SalesflowError as exc:
            log.error("batch %s, step %s: %s", spec.batch_id, args[0], exc)
            return 1
    log.info("batch %s, step %s done: %s", spec.batch_id, args[0], result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
