"""The demo: sample files, good and bad, dropped into the bucket on first start: order
documents under orders/ for the orders pipeline, and a batch of CSVs under raw-data/ for the
batch pipeline (a products.csv, orders and order items, with rows that are refused)."""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable

from salesflow.runtime.bootstrap import App
from salesflow.runtime.runner import ORDERS_PREFIX


def drop_samples(app: App) -> list[str]:
    """Put the bundled samples in the bucket unless this home has run before; return their keys
    (each sample's path under salesflow/samples/: orders/... and raw-data/...)."""
    if app.ledger.executions(limit=1) or any(True for _ in app.store.list(ORDERS_PREFIX)):
        return []
    dropped = []
    for key, sample in _files(resources.files("salesflow.samples")):
        with sample.open("rb") as stream:
            app.store.put(key, stream)
        dropped.append(key)
    return dropped


def _files(folder: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    """The files in folder and its subfolders, by key (their path under it)."""
    found = []
    for entry in folder.iterdir():
        if entry.name.startswith(("_", ".")):
            continue
        if entry.is_dir():
            found += _files(entry, f"{prefix}{entry.name}/")
        else:
            found.append((prefix + entry.name, entry))
    return sorted(found, key=lambda item: item[0])
