"""One suite per port, run against every adapter: the fixtures are parametrised by adapter."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from salesflow.adapters.local.folder_store import FolderObjectStore
from salesflow.adapters.local.sqlite_db import connect
from salesflow.adapters.local.sqlite_ledger import SqliteOrderLedger
from salesflow.adapters.memory import InMemoryObjectStore, InMemoryOrderLedger
from salesflow.ports import ObjectStore
from tests.aws.moto import make_world, moto_endpoint, stream_changes

__all__ = ["moto_endpoint"]  # the session's moto server, for the "s3" and "dynamo" params

Ledger = SqliteOrderLedger | InMemoryOrderLedger
ChangeReader = Callable[[], list[dict[str, Any]]]

_CHANGES = "SELECT sequence, event_type, order_id, old_image, new_image FROM changes ORDER BY sequence"


@pytest.fixture(params=["folder", "memory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "s3":
        from salesflow.adapters.aws.s3_store import S3ObjectStore

        world = make_world(request.getfixturevalue("moto_endpoint"), tables=False, queue=False)
        return S3ObjectStore(world.s3, world.bucket)
    if request.param == "folder":
        return FolderObjectStore(tmp_path / "bucket")
    return InMemoryObjectStore()


@pytest.fixture
def folder_store(tmp_path: Path) -> FolderObjectStore:
    return FolderObjectStore(tmp_path / "bucket")


@pytest.fixture(params=["sqlite", "memory", "dynamo"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    if request.param == "dynamo":
        from salesflow.adapters.aws.dynamo_ledger import DynamoOrderLedger
        from salesflow.retry import RetryPolicy

        world = make_world(request.getfixturevalue("moto_endpoint"), bucket=False, queue=False)
        dynamo = DynamoOrderLedger(world.dynamodb, world.orders_table, world.executions_table, RetryPolicy(base=0.001))
        dynamo.world = world  # type: ignore[attr-defined]  # for the changes fixture: the stream to read
        yield dynamo  # type: ignore[misc]
        return
    if request.param == "memory":
        yield InMemoryOrderLedger()
        return
    sqlite_ledger = SqliteOrderLedger(connect(tmp_path / "salesflow.db"))
    yield sqlite_ledger
    sqlite_ledger.close()


@pytest.fixture
def changes(ledger: Ledger, tmp_path: Path) -> Iterator[ChangeReader]:
    """Reads every change record, oldest first, as dicts with both images as JSON text.

    For SQLite they come from the `changes` view through a second, read-only
    connection: what another reader (the stream pipeline) would see committed.
    """
    if isinstance(ledger, InMemoryOrderLedger):
        yield ledger.changes
        return
    world = getattr(ledger, "world", None)
    if world is not None:  # DynamoDB: the orders table's stream, as the stream Lambda would see it
        yield lambda: stream_changes(world)
        return
    reader = connect(tmp_path / "salesflow.db", read_only=True)
    columns = ("sequence", "event_type", "order_id", "old_image", "new_image")
    yield lambda: [dict(zip(columns, row, strict=True)) for row in reader.execute(_CHANGES)]
    reader.close()
