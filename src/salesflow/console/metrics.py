"""``/metrics``: Prometheus text, read from the ledgers at scrape time.

The pipelines keep no counters in memory (they may run in another process), so
a collector asks the database at each scrape. Counting refusals by reason scans
every dead letter; that figure is cached for ``slow_seconds``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from salesflow.console.state import ConsoleState
from salesflow.retry import retries_so_far

# Batch steps take from milliseconds (notify) to minutes (transform of a large batch).
STEP_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0)


class PipelineCollector(Collector):
    """Counts of one home: records, executions, dead letters, the stream, step durations."""

    def __init__(self, state: ConsoleState, slow_seconds: float = 15.0) -> None:
        self.state = state
        self.slow_seconds = slow_seconds
        self._lock = threading.Lock()
        self._refused: tuple[float, list[tuple[str, str, int]]] = (-1e9, [])

    def collect(self) -> Iterator[Metric]:
        queries = self.state.queries
        processed = CounterMetricFamily(
            "salesflow_records_processed", "Records read by finished and running executions", labels=["pipeline"]
        )
        stored = CounterMetricFamily("salesflow_records_stored", "Records stored", labels=["pipeline"])
        executions = GaugeMetricFamily("salesflow_executions", "Executions by state", labels=["pipeline", "status"])
        totals: dict[str, list[int]] = {}
        for row in queries.execution_counts():
            executions.add_metric([row["pipeline"], row["status"]], row["executions"])
            sums = totals.setdefault(row["pipeline"], [0, 0])
            sums[0] += row["records"]
            sums[1] += row["stored"]
        for pipeline, (records, kept) in sorted(totals.items()):
            processed.add_metric([pipeline], records)
            stored.add_metric([pipeline], kept)
        yield from (processed, stored, executions)

        refused = CounterMetricFamily(
            "salesflow_records_refused",
            "Refused records by reason (a record may have several)",
            labels=["pipeline", "reason"],
        )
        for pipeline, reason, count in self._refused_by_reason():
            refused.add_metric([pipeline, reason], count)
        yield refused

        letters = GaugeMetricFamily("salesflow_dead_letters", "Dead letters by state", labels=["status"])
        counts = queries.letter_counts()
        for status in ("pending", "redriven", "discarded"):
            letters.add_metric([status], counts.get(status, 0))
        yield letters
        yield GaugeMetricFamily(
            "salesflow_dlq_depth", "Dead letters waiting for a person", value=counts.get("pending", 0)
        )
        yield GaugeMetricFamily("salesflow_orders", "Orders in the orders table", value=queries.order_count())

        batches = GaugeMetricFamily("salesflow_batches", "Batches by state", labels=["status"])
        for status, count in sorted(queries.batch_counts().items()):
            batches.add_metric([status], count)
        yield batches

        yield from self._stream_metrics()
        yield self._step_histogram()
        retries = CounterMetricFamily(
            "salesflow_retries", "Retries of transient failures by this process, by error", labels=["error"]
        )
        for error, count in sorted(retries_so_far().items()):
            retries.add_metric([error], count)
        yield retries

    def _refused_by_reason(self) -> list[tuple[str, str, int]]:
        with self._lock:
            at, rows = self._refused
            if time.monotonic() - at >= self.slow_seconds:
                rows = self.state.queries.refused_by_reason()
                self._refused = (time.monotonic(), rows)
            return rows

    def _stream_metrics(self) -> Iterator[Metric]:
        status: dict[str, Any] | None = self.state.stream.status()
        if status is None:
            return
        yield GaugeMetricFamily(
            "salesflow_stream_lag_changes", "Changes not yet in the lake", value=status["lag_changes"]
        )
        yield GaugeMetricFamily(
            "salesflow_stream_lag_seconds", "Age of the oldest change not yet in the lake", value=status["lag_seconds"]
        )
        yield CounterMetricFamily(
            "salesflow_stream_refused_changes", "Changes the transform refused", value=status["errors"]
        )

    def _step_histogram(self) -> Metric:
        histogram = HistogramMetricFamily(
            "salesflow_step_duration_seconds", "Durations of finished execution steps", labels=["step"]
        )
        by_step: dict[str, list[float]] = {}
        for step, seconds in self.state.queries.step_durations():
            by_step.setdefault(step, []).append(seconds)
        for step, durations in sorted(by_step.items()):
            buckets = [(str(bound), sum(d <= bound for d in durations)) for bound in STEP_BUCKETS]
            buckets.append(("+Inf", len(durations)))
            histogram.add_metric([step], buckets, sum_value=sum(durations))
        return histogram


def metrics_registry(state: ConsoleState) -> CollectorRegistry:
    """A registry of its own per console, so two consoles in one process (tests) never mix."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PipelineCollector(state))
    return registry
