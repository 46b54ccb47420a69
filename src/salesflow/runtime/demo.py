"""The demo: sample files, good and bad, dropped into the bucket on first start: order
documents under orders/ for the orders pipeline, and a batch of CSVs under raw-data/ for the
batch pipeline (a products.csv, orders and order items, with rows that are refused)."""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable

from salesflow.domain.batch import RAW_PREFIX
from salesflow.runtime.bootstrap import App
from salesflow.runtime.runner import ORDERS_PREFIX


def drop_samples(app: App) -> list[str]:
    """Put the bundled samples in the bucket unless this home has run before; return their keys."""
    if app.ledger.executions(limit=1) or any(True for _ in app.store.list(ORDERS_PREFIX)):
        return []
    samples = resources.files("salesflow.samples")
    dropped = []
    for key, sample in [*_files(samples, ORDERS_PREFIX), *_files(samples / RAW_PREFIX.rstrip("/"), RAW_PREFIX)]:
        with sample.open("rb") as stream:
            app.store.put(key, stream)
        dropped.append(key)
    return dropped


def _files(folder: Traversable, prefix: str) -> list[tuple[str, Traversable]]:
    """The sample files in folder and its subfolders, with their keys under prefix, by key."""
    found = []
    for entry in folder.iterdir():
        if entry.name.startswith(("_", ".")) or (prefix == ORDERS_PREFIX and entry.is_dir()):
            continue
        if entry.is_dir():
            found += _files(entry, f"{prefix}{entry.name}/")
        else:
            found.append((prefix + entry.name, entry))
    return sorted(found, key=lambda item: item[0])
