"""The ObjectStore contract, run against the folder bucket and the in-memory fake."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from salesflow.adapters.local.folder_store import FolderObjectStore
from salesflow.domain.errors import NotFound, PermanentError
from salesflow.ports import ObjectStore

MB = 1 << 20
BAD_KEYS = ["../escape.json", "orders/../../escape.json", "/tmp/escape.json", ""]


class FailingSource(io.BytesIO):
    """A source that gives `good_reads` reads of up to 1 MB, then fails like a dropped upload.

    ``during`` runs just before the failure, while the store is half-way through the put.
    """

    def __init__(self, good_reads: int, during: Callable[[], None] = lambda: None) -> None:
        super().__init__()
        self.good_reads = good_reads
        self.during = during

    def read(self, size: int | None = -1, /) -> bytes:
        if size is None or size < 0 or self.good_reads == 0:  # reading to the end reads through the failure
            self.during()
            raise OSError("connection reset while uploading")
        self.good_reads -= 1
        return b"x" * min(size, MB)


def put_bytes(store: ObjectStore, key: str, data: bytes) -> None:
    store.put(key, io.BytesIO(data))


def read(store: ObjectStore, key: str) -> bytes:
    with store.open(key) as stream:
        return stream.read()


def keys(store: ObjectStore, prefix: str = "") -> list[str]:
    return [info.key for info in store.list(prefix)]


def test_put_then_open_round_trips_the_bytes(store: ObjectStore) -> None:
    data = bytes(range(256)) * 1000 + b'{"orders": []}\n'

    info = store.put("orders/2026-11-25.json", io.BytesIO(data))

    assert read(store, "orders/2026-11-25.json") == data
    assert (info.key, info.size) == ("orders/2026-11-25.json", len(data))
    assert store.stat("orders/2026-11-25.json") == info


def test_a_put_that_fails_half_way_leaves_no_object_and_nothing_listed(store: ObjectStore) -> None:
    seen_during_put: list[list[str]] = []
    source = FailingSource(good_reads=3, during=lambda: seen_during_put.append(keys(store)))

    with pytest.raises(OSError, match="connection reset"):
        store.put("orders/big.json", source)

    assert seen_during_put == [[]]
    assert keys(store) == []
    with pytest.raises(NotFound):
        store.stat("orders/big.json")


def test_a_failed_put_over_an_object_leaves_the_old_one_whole(store: ObjectStore) -> None:
    put_bytes(store, "orders/a.json", b'{"orders": [1]}')
    seen_during_put: list[bytes] = []

    with pytest.raises(OSError, match="connection reset"):
        store.put("orders/a.json", FailingSource(2, lambda: seen_during_put.append(read(store, "orders/a.json"))))

    assert seen_during_put == [b'{"orders": [1]}']
    assert read(store, "orders/a.json") == b'{"orders": [1]}'
    assert keys(store) == ["orders/a.json"]


def test_list_filters_by_prefix(store: ObjectStore) -> None:
    for key in ["orders/c.jsonl", "orders/a.json", "other/x.json", "orders/b.json.gz", "orders-archive/y.json"]:
        put_bytes(store, key, key.encode())

    assert keys(store, "orders/") == ["orders/a.json", "orders/b.json.gz", "orders/c.jsonl"]
    assert keys(store, "orders/b") == ["orders/b.json.gz"]
    assert keys(store, "nothing/") == []
    assert sorted(keys(store)) == [
        "orders-archive/y.json",
        "orders/a.json",
        "orders/b.json.gz",
        "orders/c.jsonl",
        "other/x.json",
    ]


def test_list_is_sorted_by_key(store: ObjectStore) -> None:
    # Within one folder: the folder bucket sorts folder by folder, so keys of
    # different folders ("orders-x/" before "orders/") do not interleave like S3's.
    names = ["2026-11-25.json", "2026-11-03.jsonl", "b.json", "A.json", "2026-11-25.json.gz", "a.json"]
    for name in names:
        put_bytes(store, f"orders/{name}", b"{}")

    assert keys(store, "orders/") == sorted(f"orders/{name}" for name in names)


def test_list_reports_size_and_version_like_stat(store: ObjectStore) -> None:
    put_bytes(store, "orders/a.json", b"12345")

    [info] = store.list("orders/")

    assert info == store.stat("orders/a.json")
    assert info.size == 5


@pytest.mark.parametrize(
    "call",
    [
        lambda store: store.stat("orders/missing.json"),
        lambda store: store.open("orders/missing.json"),
        lambda store: store.digest("orders/missing.json"),
        lambda store: store.move("orders/missing.json", "quarantine/orders/missing.json"),
    ],
    ids=["stat", "open", "digest", "move"],
)
def test_a_missing_key_raises_not_found(store: ObjectStore, call: Callable[[ObjectStore], object]) -> None:
    put_bytes(store, "orders/present.json", b"{}")

    with pytest.raises(NotFound, match="missing"):
        call(store)


def test_move_renames_the_object(store: ObjectStore) -> None:
    put_bytes(store, "orders/bad.json", b'{"orders": [')

    store.move("orders/bad.json", "quarantine/orders/bad.json")

    assert keys(store) == ["quarantine/orders/bad.json"]
    assert read(store, "quarantine/orders/bad.json") == b'{"orders": ['
    with pytest.raises(NotFound):
        store.stat("orders/bad.json")


def test_move_over_an_existing_object_replaces_it(store: ObjectStore) -> None:
    put_bytes(store, "orders/new.json", b"new")
    put_bytes(store, "archive/new.json", b"old")

    store.move("orders/new.json", "archive/new.json")

    assert keys(store) == ["archive/new.json"]
    assert read(store, "archive/new.json") == b"new"


@pytest.mark.parametrize("key", BAD_KEYS)
def test_a_key_outside_the_bucket_is_refused_on_put(store: ObjectStore, tmp_path: Path, key: str) -> None:
    with pytest.raises(PermanentError, match="relative path") as raised:
        put_bytes(store, key, b"{}")

    assert not isinstance(raised.value, NotFound)
    assert not (tmp_path / "escape.json").exists()
    assert keys(store) == []


@pytest.mark.parametrize("key", BAD_KEYS)
@pytest.mark.parametrize(
    "call",
    [
        lambda store, key: store.stat(key),
        lambda store, key: store.open(key),
        lambda store, key: store.digest(key),
        lambda store, key: store.move(key, "orders/x.json"),
        lambda store, key: store.move("orders/present.json", key),
    ],
    ids=["stat", "open", "digest", "move-from", "move-to"],
)
def test_a_key_outside_the_bucket_is_refused_on_every_call(
    store: ObjectStore, key: str, call: Callable[[ObjectStore, str], object]
) -> None:
    put_bytes(store, "orders/present.json", b"{}")

    with pytest.raises(PermanentError, match="relative path") as raised:
        call(store, key)

    assert not isinstance(raised.value, NotFound)
    assert keys(store) == ["orders/present.json"]


def test_digest_is_a_hex_content_hash(store: ObjectStore) -> None:
    put_bytes(store, "orders/a.json", b'{"orders": [1]}')
    put_bytes(store, "orders/copy-of-a.json", b'{"orders": [1]}')
    put_bytes(store, "orders/b.json", b'{"orders": [2]}')

    digest = store.digest("orders/a.json")

    assert re.fullmatch(r"[0-9a-f]{32,}", digest)
    assert store.digest("orders/copy-of-a.json") == digest
    assert store.digest("orders/b.json") != digest


def test_digest_follows_the_content_not_the_key(store: ObjectStore) -> None:
    put_bytes(store, "orders/a.json", b"first")
    first = store.digest("orders/a.json")

    put_bytes(store, "orders/a.json", b"other")
    store.move("orders/a.json", "archive/a.json")

    assert store.digest("archive/a.json") != first
    put_bytes(store, "orders/a.json", b"first")
    assert store.digest("orders/a.json") == first


def test_version_changes_when_the_content_is_replaced(store: ObjectStore) -> None:
    before = store.put("orders/a.json", io.BytesIO(b"aaaa")).version

    after = store.put("orders/a.json", io.BytesIO(b"bbbb")).version  # same size, on purpose

    assert after != before
    assert store.stat("orders/a.json").version == after


# -- the folder bucket only -----------------------------------------------------


def test_folder_temp_files_of_a_put_in_progress_are_never_listed(folder_store: FolderObjectStore) -> None:
    on_disk: list[list[str]] = []

    def look() -> None:
        on_disk.append([p.name for p in folder_store.root.rglob("*") if p.is_file()])
        assert keys(folder_store) == []

    with pytest.raises(OSError, match="connection reset"):
        folder_store.put("orders/big.json", FailingSource(3, look))

    [names] = on_disk
    assert len(names) == 1
    assert names[0].startswith(".big.json.")  # the temp file was there, half written, and not listed
    assert [p for p in folder_store.root.rglob("*") if p.is_file()] == []


def test_folder_temp_names_are_not_listed(folder_store: FolderObjectStore) -> None:
    orders = folder_store.root / "orders"
    (orders / ".staging").mkdir(parents=True)
    for name in [".x.json", "x.json.tmp", "x.json.part", ".staging/y.json", "x.json"]:
        (orders / name).write_bytes(b'{"orders": []}')

    assert keys(folder_store) == ["orders/x.json"]


def test_folder_symlink_leading_outside_the_bucket_is_refused(folder_store: FolderObjectStore, tmp_path: Path) -> None:
    secret = tmp_path / "secret.json"
    secret.write_bytes(b'{"orders": []}')
    (folder_store.root / "orders").mkdir()
    os.symlink(secret, folder_store.root / "orders" / "link.json")

    assert keys(folder_store) == []
    for call in (folder_store.stat, folder_store.open, folder_store.digest):
        with pytest.raises(PermanentError, match="outside the bucket"):
            call("orders/link.json")
    with pytest.raises(PermanentError, match="outside the bucket"):
        put_bytes(folder_store, "orders/link.json", b"overwritten")
    assert secret.read_bytes() == b'{"orders": []}'
