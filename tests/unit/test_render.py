"""Tables for people: whole rows when piped, the terminal's width on a terminal."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from salesflow.cli import render

LONG = "raw-data/order_items/a-file-name-long-enough-to-pass-eighty-columns-on-its-own.csv"
ROWS = [{"id": "b-1", "status": "succeeded", "duplicates_removed": 3, "files": LONG}]
COLUMNS = ("id", "status", "duplicates_removed", "files")


def printed(monkeypatch: pytest.MonkeyPatch, console: Console) -> list[str]:
    monkeypatch.setattr(render, "out", console)
    render.print_table(ROWS, COLUMNS, "Batches")
    file = console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue().splitlines()


def test_a_piped_table_keeps_each_row_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = printed(monkeypatch, Console(file=io.StringIO(), width=80))

    assert any(LONG in line for line in lines)  # not folded at 80 columns
    assert any("duplicates_removed" in line for line in lines)
    (row,) = [line for line in lines if "b-1" in line]
    assert row.split("│")[1:4] == [" b-1 ", " succeeded ", " 3                  "]


def test_on_a_terminal_a_table_fits_its_width_and_headers_stay_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = printed(monkeypatch, Console(file=io.StringIO(), width=72, force_terminal=True, color_system=None))

    assert max(len(line) for line in lines) <= 72
    assert not any(LONG in line for line in lines)  # folded onto more lines
    assert any("duplicates_removed" in line for line in lines)


def test_an_empty_listing_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    console = Console(file=io.StringIO(), width=80)
    monkeypatch.setattr(render, "out", console)
    render.print_table([], COLUMNS, "Batches")
    assert console.file.getvalue().strip() == "no batches"  # type: ignore[attr-defined]
