"""Wiring of the AWS face: the same orders pipeline on S3 and DynamoDB, run from this process.

``salesflow run --face aws`` uses it to process the bucket's ``orders/`` objects
against AWS services (or moto, with ``[aws] endpoint_url``): what the scalable
state machine does in the cloud, done by one process, with the same exactly-once
checkpoints. Settings come from ``[aws]`` in salesflow.toml or ``SALESFLOW_AWS__*``.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from salesflow.adapters.aws.athena_sql import AthenaSqlEngine
from salesflow.adapters.aws.clients import client
from salesflow.adapters.aws.dynamo_kpis import DynamoKpiTables
from salesflow.adapters.aws.dynamo_ledger import DynamoOrderLedger
from salesflow.adapters.aws.s3_store import S3ObjectStore
from salesflow.adapters.aws.sns_notifier import SnsNotifier
from salesflow.adapters.local.notifiers import FanOutNotifier, LogNotifier
from salesflow.domain.errors import SalesflowError
from salesflow.domain.records import Execution
from salesflow.pipelines.orders import OrdersPipeline
from salesflow.ports import Notifier
from salesflow.readers import detect_format
from salesflow.retry import RetryPolicy
from salesflow.runtime.bootstrap import ingest_settings
from salesflow.runtime.settings import AwsSettings, Settings

log = logging.getLogger(__name__)
ORDERS_PREFIX = "orders/"


@dataclass
class AwsClients:
    """One boto3 client per service, for one region and endpoint."""

    settings: AwsSettings
    _made: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, service: str) -> Any:
        if service not in self._made:
            self._made[service] = client(service, self.settings.region, self.settings.endpoint_url)
        return self._made[service]


@dataclass
class AwsApp:
    """Everything `salesflow run --face aws` (and `sql --face aws`) needs."""

    settings: Settings
    clients: AwsClients
    store: S3ObjectStore
    ledger: DynamoOrderLedger
    orders: OrdersPipeline
    kpis: DynamoKpiTables
    notifier: Notifier
    sql: AthenaSqlEngine

    def process_pending(
        self,
        should_stop: Callable[[], bool] | None = None,
        on_execution: Callable[[Execution], None] | None = None,
    ) -> list[Execution]:
        """Ingest every orders/ object not seen at its current version (the reconciliation scan
        of the embedded face's watcher; S3 events start state machines in the cloud instead)."""
        seen = self.ledger.seen_objects()
        done: list[Execution] = []
        for info in self.store.list(ORDERS_PREFIX):
            if should_stop and should_stop():
                break
            if detect_format(info.key) is None or seen.get(info.key, ("", ""))[0] == info.version:
                continue
            try:
                digest = self.store.digest(info.key)
                execution = self.orders.ingest(info.key, digest, should_stop=should_stop)
            except SalesflowError as exc:  # one object never stops the others
                log.warning("%s not processed: %s", info.key, exc)
                continue
            self.ledger.remember_object(info.key, info.version, digest, execution.id)
            done.append(execution)
            if on_execution:
                on_execution(execution)
        return done

    def process_batch(self) -> dict[str, Any] | None:
        """Run one ready batch of raw-data/ files here, as the batch state machine does on
        AWS: the presence check, the four task steps, and cleanup whatever happened. Returns
        what it did, or None when no batch is ready."""
        from salesflow.aws.batch_task import BatchSpec, build_deps, run_step
        from salesflow.aws.handlers.batch_gate import RAW, cleanup, presence_check

        first = next((info.key for info in self.store.list(RAW)), None)
        if first is None:
            return None
        ready = presence_check(first, self.store)
        if not ready["ready"]:
            return None
        spec = BatchSpec(str(ready["batch_id"]), list(ready["files"]))
        outcome: dict[str, Any] = {"batch_id": spec.batch_id, "files": len(spec.files), "status": "succeeded"}
        with tempfile.TemporaryDirectory(prefix="salesflow-batch-") as work:
            deps = build_deps(self.settings, Path(work))
            try:
                for step in ("validate", "transform", "publish", "archive"):
                    outcome[step] = run_step(step, spec, deps)
            except SalesflowError as exc:
                outcome.update(status="failed", error=str(exc))
            finally:
                cleanup(spec.batch_id, self.store)
        return outcome

    def watch(
        self,
        stop: threading.Event,
        on_execution: Callable[[Execution], None] | None = None,
        on_batch: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        """process_pending and process_batch every [watch] scan_seconds until stop is set."""
        while not stop.is_set():
            self.process_pending(stop.is_set, on_execution)
            batch = self.process_batch()
            if batch is not None and on_batch:
                on_batch(batch)
            stop.wait(self.settings.watch.scan_seconds)

    def close(self) -> None:
        if isinstance(self.notifier, FanOutNotifier):
            self.notifier.close()


def build_aws_app(settings: Settings) -> AwsApp:
    """Clients and adapters for settings.aws; nothing is called until used."""
    aws, orders = settings.aws, settings.orders
    clients = AwsClients(aws)
    retry = RetryPolicy(orders.retries, orders.retry_base_seconds, orders.retry_max_seconds)
    store = S3ObjectStore(clients["s3"], aws.bucket)
    ledger = DynamoOrderLedger(clients["dynamodb"], aws.orders_table, aws.executions_table, retry)
    pipeline = OrdersPipeline(store, ledger, ingest_settings(orders, in_process=True))
    notifiers: list[Notifier] = [LogNotifier()]
    if aws.topic_arn:
        notifiers.append(SnsNotifier(clients["sns"], aws.topic_arn))
    kpis = DynamoKpiTables(clients["dynamodb"], aws.order_kpi_table, aws.category_kpi_table, retry)
    sql = AthenaSqlEngine(clients["athena"], aws.athena_workgroup, aws.athena_database, aws.athena_output)
    return AwsApp(settings, clients, store, ledger, pipeline, kpis, FanOutNotifier(notifiers), sql)
