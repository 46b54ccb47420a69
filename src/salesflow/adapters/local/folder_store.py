"""A folder as the bucket: object keys are relative paths under it.

Writes are atomic (a temp name in the same folder, then a rename), so a reader
sees an old object or a whole new one. Temp names (``.*``, ``*.tmp``,
``*.part``) are never listed: a file still being written is not an object yet.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO

from salesflow.domain.errors import NotFound, PermanentError
from salesflow.ports import ObjectInfo

_TEMP_SUFFIXES = (".tmp", ".part")


def is_temporary(name: str) -> bool:
    """True for names that writers use while a file is incomplete."""
    return name.startswith(".") or name.endswith(_TEMP_SUFFIXES)


class FolderObjectStore:
    """ObjectStore over a local folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._real_root = root.resolve()

    def path(self, key: str) -> Path:
        """The file behind key. Raises PermanentError for keys that would leave the bucket."""
        pure = PurePosixPath(key)
        if not key or pure.is_absolute() or ".." in pure.parts or "\\" in key or "\x00" in key:
            raise PermanentError(f"object key {key!r} must be a relative path inside the bucket, without '..'")
        path = self.root.joinpath(*pure.parts)
        real = path.resolve()
        if real != self._real_root and self._real_root not in real.parents:
            raise PermanentError(f"object key {key!r} leads outside the bucket (a symlink?); refused")
        return path

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects under prefix in key order (as S3 lists them), temp names left out."""
        found = []
        folder = prefix.rpartition("/")[0]  # walk only below the folder the prefix names
        start = self.path(folder) if folder else self.root
        for directory, folders, files in os.walk(start):
            folders[:] = [f for f in folders if not f.startswith(".")]
            for name in files:
                path = Path(directory, name)
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix) and not is_temporary(name) and not path.is_symlink():
                    found.append((key, path))
        for key, path in sorted(found):
            try:
                yield _info(key, path.stat())
            except FileNotFoundError:
                continue  # moved away while we listed

    def stat(self, key: str) -> ObjectInfo:
        try:
            return _info(key, self.path(key).stat())
        except FileNotFoundError:
            raise NotFound(f"no object {key!r} in the bucket {self.root}") from None

    def open(self, key: str) -> IO[bytes]:
        try:
            return self.path(key).open("rb")
        except FileNotFoundError:
            raise NotFound(f"no object {key!r} in the bucket {self.root}") from None

    def digest(self, key: str) -> str:
        try:
            with self.path(key).open("rb") as stream:
                return hashlib.file_digest(stream, "sha256").hexdigest()
        except FileNotFoundError:
            raise NotFound(f"no object {key!r} in the bucket {self.root}") from None

    def put(self, key: str, source: IO[bytes]) -> ObjectInfo:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            with temp.open("wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        return self.stat(key)

    @contextmanager
    def writer(self, key: str) -> Iterator[IO[bytes]]:
        """A file to write the object into; it appears whole when the block ends without error."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            with temp.open("wb") as out:
                yield out
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)

    def delete(self, key: str) -> None:
        """Remove an object if it exists."""
        self.path(key).unlink(missing_ok=True)

    def move(self, key: str, new_key: str) -> None:
        source, target = self.path(key), self.path(new_key)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(source, target)
        except FileNotFoundError:
            raise NotFound(f"no object {key!r} in the bucket {self.root}") from None


def _info(key: str, st: os.stat_result) -> ObjectInfo:
    return ObjectInfo(key=key, size=st.st_size, version=f"{st.st_size}-{st.st_mtime_ns}", modified_at=st.st_mtime)
