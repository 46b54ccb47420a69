"""The demo: sample order files, good and bad, dropped into the bucket on first start."""

from __future__ import annotations

from importlib import resources

from salesflow.runtime.bootstrap import App
from salesflow.runtime.runner import ORDERS_PREFIX


def drop_samples(app: App) -> list[str]:
    """Put the bundled samples under orders/ unless this home has run before; return their keys."""
    if app.ledger.executions(limit=1) or any(True for _ in app.store.list(ORDERS_PREFIX)):
        return []
    dropped = []
    for sample in sorted(resources.files("salesflow.samples").iterdir(), key=lambda p: p.name):
        if sample.name.startswith(("_", ".")):
            continue
        key = ORDERS_PREFIX + sample.name
        with sample.open("rb") as stream:
            app.store.put(key, stream)
        dropped.append(key)
    return dropped
