"""Streaming an upload into the bucket: chunk by chunk, never the whole file in memory.

The object appears whole when the upload completes within the size limit, and
not at all otherwise (the store's writer renames a temp file at the end). File
I/O runs in worker threads so a large upload never stalls the event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractContextManager
from pathlib import PurePosixPath
from typing import IO, Any

import anyio.to_thread
from fastapi import HTTPException
from python_multipart.multipart import MultipartParser, parse_options_header

from salesflow.adapters.local.folder_store import FolderObjectStore, is_temporary
from salesflow.domain.errors import PermanentError
from salesflow.ports import ObjectInfo

ALLOWED_PREFIXES = ("orders/", "raw-data/")
MAX_KEY_CHARS = 1024
MAX_FIELD_BYTES = 4096  # a form field (key, csrf token); files are the only large part


def check_key(store: FolderObjectStore, key: str) -> str:
    """The key if it is a plain relative path under orders/ or raw-data/ that stays in the
    bucket (no '..', no absolute path, no symlink out, no hidden or temp name); else 400."""
    pure = PurePosixPath(key)
    problem = None
    if not key or len(key) > MAX_KEY_CHARS:
        problem = f"a key of 1 to {MAX_KEY_CHARS} characters"
    elif not key.startswith(ALLOWED_PREFIXES):
        problem = "a key under orders/ or raw-data/"
    elif key.endswith("/") or any(part in ("", ".", "..") for part in key.split("/")):
        problem = "a key naming a file, without '.', '..' or empty parts"
    elif any(is_temporary(part) for part in pure.parts) or any(ord(c) < 32 for c in key):
        problem = "a key without hidden or temporary names (.x, *.tmp, *.part) or control characters"
    if problem is None:
        try:
            store.path(key)  # refuses absolute paths, backslashes and symlinks leading out
        except PermanentError as exc:
            problem = str(exc)
    if problem is not None:
        raise HTTPException(400, f"object key {key!r} refused: give {problem}")
    return key


class ObjectUpload:
    """One object being written: write chunks, then commit (it appears) or abort (it never does)."""

    def __init__(self, store: FolderObjectStore, key: str, limit: int) -> None:
        self.store, self.key, self.limit = store, key, limit
        self.size = 0
        self._writer: AbstractContextManager[IO[bytes]] | None = None
        self._file: IO[bytes] | None = None

    async def open(self) -> None:
        self._writer = self.store.writer(self.key)
        self._file = await anyio.to_thread.run_sync(self._writer.__enter__)

    async def write(self, data: bytes) -> None:
        assert self._file is not None
        self.size += len(data)
        if self.size > self.limit:
            raise HTTPException(413, f"the upload is larger than console.max_upload_mb ({self.limit >> 20} MB)")
        await anyio.to_thread.run_sync(self._file.write, data)

    async def commit(self) -> ObjectInfo:
        writer, self._writer = self._writer, None
        assert writer is not None
        await anyio.to_thread.run_sync(writer.__exit__, None, None, None)
        return self.store.stat(self.key)

    async def abort(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            failure = RuntimeError("upload aborted")
            await anyio.to_thread.run_sync(writer.__exit__, RuntimeError, failure, None)


async def stream_body(body: AsyncIterator[bytes], upload: ObjectUpload) -> ObjectInfo:
    """A raw request body (PUT) into one object."""
    await upload.open()
    try:
        async for chunk in body:
            if chunk:
                await upload.write(chunk)
        return await upload.commit()
    finally:
        await upload.abort()


class MultipartEvents:
    """python-multipart's callbacks turned into a list of events the async side consumes
    after each chunk: ("field", name, value) for small fields, ("file", filename) at the
    start of a file part, ("data", bytes) for its content, ("end",) when it ends."""

    def __init__(self, content_type: str) -> None:
        kind, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if kind != b"multipart/form-data" or not boundary:
            raise HTTPException(400, "send the upload as multipart/form-data (a form with a file field)")
        self.events: list[tuple[Any, ...]] = []
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._field: tuple[str, bytearray] | None = None
        self._in_file = False
        callbacks: Any = {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda d, s, e: self._add_header_part("name", d[s:e]),
            "on_header_value": lambda d, s, e: self._add_header_part("value", d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }
        self.parser = MultipartParser(boundary, callbacks)

    def feed(self, chunk: bytes) -> list[tuple[Any, ...]]:
        self.parser.write(chunk)
        events, self.events = self.events, []
        return events

    def _part_begin(self) -> None:
        self._headers, self._field, self._in_file = {}, None, False

    def _add_header_part(self, which: str, data: bytes) -> None:
        if which == "name":
            self._header_name += data
        else:
            self._header_value += data

    def _header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name = self._header_value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in options:
            self._in_file = True
            self.events.append(("file", options[b"filename"].decode("utf-8", "replace")))
        else:
            self._field = (name, bytearray())

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self.events.append(("data", bytes(data[start:end])))
        elif self._field is not None:
            self._field[1].extend(data[start:end])
            if len(self._field[1]) > MAX_FIELD_BYTES:
                raise HTTPException(400, f"form field {self._field[0]!r} is longer than {MAX_FIELD_BYTES} bytes")

    def _part_end(self) -> None:
        if self._in_file:
            self.events.append(("end",))
        elif self._field is not None:
            self.events.append(("field", self._field[0], self._field[1].decode("utf-8", "replace")))
        self._in_file, self._field = False, None
