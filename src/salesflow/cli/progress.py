"""Progress on long work: a bar per large object, one line per finished execution."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bar

from salesflow.domain.records import Execution, ExecutionStatus
from salesflow.pipelines.orders import Progress
from salesflow.ports import ObjectInfo

LARGE_BYTES = 4 << 20  # smaller objects finish before a bar would be seen


class ProgressReporter:
    """Callbacks for the Runner: shows a bar while a large object is processed."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._bar: Bar | None = None

    def start(self, info: ObjectInfo) -> Progress | None:
        if info.size < LARGE_BYTES or not self.console.is_terminal:
            return None
        bar = Bar(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("records"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        task = bar.add_task(escape(info.key), total=None)
        bar.start()
        self._bar = bar

        def advance(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total if total is not None else bar.tasks[0].total)

        return advance

    def finished(self, execution: Execution) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        colour = "green" if execution.status == ExecutionStatus.SUCCEEDED else "red"
        outcome = (
            f"{execution.records:,} rows, {execution.stored:,} valid, {execution.rejected:,} refused"
            if execution.pipeline == "batch"
            else f"{execution.records:,} records, {execution.stored:,} stored, "
            f"{execution.rejected:,} to the dead-letter queue"
        )
        line = f"[{colour}]{execution.status}[/{colour}] {escape(execution.key)} ({execution.id}): {outcome}"
        if execution.error:
            line += f"\n  {escape(execution.error)}"
        self.console.print(line)
