"""ObjectStore over a dict: key -> bytes, with a version counter and a modification time."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import BytesIO
from pathlib import PurePosixPath
from typing import IO

from salesflow.domain.errors import NotFound, PermanentError
from salesflow.ports import ObjectInfo


@dataclass(frozen=True, slots=True)
class _Stored:
    data: bytes
    version: int
    modified_at: float


class InMemoryObjectStore:
    """An ObjectStore that keeps objects in memory. Same key rules as FolderObjectStore."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._objects: dict[str, _Stored] = {}
        self._versions = 0  # store-wide, so a version is never reused, even for another key
        self._clock = clock

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        for key in sorted(self._objects):
            if key.startswith(prefix):
                yield self._info(key, self._objects[key])

    def stat(self, key: str) -> ObjectInfo:
        return self._info(key, self._get(key))

    def open(self, key: str) -> IO[bytes]:
        return BytesIO(self._get(key).data)

    def digest(self, key: str) -> str:
        return hashlib.sha256(self._get(key).data).hexdigest()

    def put(self, key: str, source: IO[bytes]) -> ObjectInfo:
        check_key(key)
        data = source.read()  # a source that fails half-way raises here, before anything is stored
        self._versions += 1
        self._objects[key] = _Stored(bytes(data), self._versions, self._clock())
        return self.stat(key)

    @contextmanager
    def writer(self, key: str) -> Iterator[IO[bytes]]:
        """A buffer that becomes the object when the block ends without error."""
        buffer = BytesIO()
        yield buffer
        buffer.seek(0)
        self.put(key, buffer)

    def delete(self, key: str) -> None:
        self._objects.pop(key, None)

    def move(self, key: str, new_key: str) -> None:
        stored = self._get(key)
        check_key(new_key)
        del self._objects[key]
        self._objects[new_key] = stored  # like a rename: version and time travel with the object

    def _get(self, key: str) -> _Stored:
        check_key(key)
        try:
            return self._objects[key]
        except KeyError:
            raise NotFound(f"no object {key!r} in the in-memory bucket") from None

    @staticmethod
    def _info(key: str, stored: _Stored) -> ObjectInfo:
        return ObjectInfo(key=key, size=len(stored.data), version=str(stored.version), modified_at=stored.modified_at)


def check_key(key: str) -> None:
    """Raise PermanentError for a key that is not a relative path inside the bucket."""
    pure = PurePosixPath(key)
    if not key or pure.is_absolute() or ".." in pure.parts or "\\" in key or "\x00" in key:
        raise PermanentError(f"object key {key!r} must be a relative path inside the bucket, without '..'")
