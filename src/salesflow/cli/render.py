"""Output for people (Rich tables) and for machines (JSON on stdout, nothing else)."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement

__all__ = ["cell", "err", "escape", "out", "print_json", "print_record", "print_table", "show_one", "show_rows"]
from rich.table import Table

from salesflow.jsoncodec import to_json

out = Console(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def as_dict(item: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        return {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}
    return dict(item)


def print_json(value: Any) -> None:
    """JSON for machines: the value alone on stdout."""
    sys.stdout.write(to_json(value) + "\n")


def show_rows(rows: list[dict[str, Any]], columns: Sequence[str], title: str, json: bool) -> None:
    """A listing: a JSON array of objects for machines, else a table."""
    if json:
        print_json(rows)
    else:
        print_table(rows, columns, title)


def show_one(item: dict[str, Any], json: bool) -> None:
    """One item: a JSON object for machines, else name: value lines."""
    if json:
        print_json(item)
    else:
        print_record(item)


def print_table(rows: Iterable[dict[str, Any]], columns: Sequence[str], title: str | None = None) -> None:
    """A table for people. Cell contents are escaped: a record cannot inject markup."""
    table = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        # A header keeps its words whole; a long value folds onto more lines.
        table.add_column(column, overflow="fold", min_width=len(column))
    count = 0
    for row in rows:
        table.add_row(*(cell(row.get(column)) for column in columns))
        count += 1
    if count:
        (out if out.is_terminal else as_wide_as(out, table)).print(table)
    else:
        out.print(f"[dim]no {escape(title or 'rows').lower()}[/dim]")


def as_wide_as(console: Console, table: Table) -> Console:
    """Piped or redirected, a console as wide as the table: Rich would fold it to 80 columns,
    and a row split over lines is no use to grep or a file."""
    width = Measurement.get(console, console.options.update_width(1 << 16), table).maximum
    return Console(file=console.file, width=max(console.width, width), highlight=False, soft_wrap=False)


def print_record(fields: dict[str, Any]) -> None:
    """One item as aligned name: value lines."""
    width = max((len(name) for name in fields), default=0)
    for name, value in fields.items():
        out.print(f"[bold]{escape(name.ljust(width))}[/bold]  {cell(value)}")


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, list | dict):
        return escape(to_json(value))
    return escape(str(value))
