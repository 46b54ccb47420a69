"""ObjectStore on an S3 bucket.

- ``version`` is the ETag: it changes whenever the content may have (S3 gives a
  new ETag to every new content; the same bytes put again keep theirs).
- ``put`` and ``writer`` spool to a local temporary file first (memory-bounded),
  hashing as they go, and upload only once the source is whole: S3 makes an
  object visible only when its upload completes, so readers see the old object
  or the whole new one, and a source that fails half-way leaves nothing.
- ``digest`` is a SHA-256 of the content. Objects we write carry it as metadata
  (``x-amz-meta-sha256``, kept by copies); for others it is computed by
  streaming the object once. It is never the ETag: a multipart ETag is not a
  hash of the bytes, so the same bytes could get two digests.
- ``open`` returns a buffered, seekable stream that reads with ranged GETs
  pinned to the ETag seen at open (``IfMatch``): the pipeline seeks to spans,
  memory stays flat whatever the size, and an object replaced mid-read fails
  the read (a TransientError) instead of mixing two contents.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import PurePosixPath
from typing import IO, Any

from salesflow.adapters.aws.clients import error_code, translate_errors
from salesflow.domain.errors import NotFound, PermanentError, TransientError
from salesflow.ports import ObjectInfo

_PIECE = 1 << 20  # bytes copied at a time from a source
_SPOOL_IN_MEMORY = 8 << 20  # a put smaller than this never touches the disk
_READ_BUFFER = 8 << 20  # S3's advice: ranged GETs of 8-16 MB
_DIGEST_META = "sha256"


class S3ObjectStore:
    """An ObjectStore over one S3 bucket (keys as they are, no prefix mapping)."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        paginator = self._s3.get_paginator("list_objects_v2")
        with translate_errors(f"listing s3://{self.bucket}/{prefix}"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield ObjectInfo(
                        key=item["Key"],
                        size=int(item["Size"]),
                        version=_etag(item["ETag"]),
                        modified_at=item["LastModified"].timestamp(),
                    )

    def stat(self, key: str) -> ObjectInfo:
        head = self._head(key)
        return ObjectInfo(key, int(head["ContentLength"]), _etag(head["ETag"]), head["LastModified"].timestamp())

    def open(self, key: str) -> IO[bytes]:
        head = self._head(key)
        raw = _RangeReader(self._s3, self.bucket, key, int(head["ContentLength"]), head["ETag"])
        return io.BufferedReader(raw, buffer_size=_READ_BUFFER)

    def digest(self, key: str) -> str:
        head = self._head(key)
        known = head.get("Metadata", {}).get(_DIGEST_META)
        if isinstance(known, str) and len(known) == 64:
            return known
        sha = hashlib.sha256()
        with self.open(key) as stream:
            while piece := stream.read(_PIECE):
                sha.update(piece)
        return sha.hexdigest()

    def put(self, key: str, source: IO[bytes]) -> ObjectInfo:
        check_key(key)
        with tempfile.SpooledTemporaryFile(_SPOOL_IN_MEMORY) as spool:
            sha = hashlib.sha256()
            while piece := source.read(_PIECE):  # a failing source raises here, before any upload
                sha.update(piece)
                spool.write(piece)
            spool.seek(0)
            return self._upload(key, spool, sha.hexdigest())

    @contextmanager
    def writer(self, key: str) -> Iterator[IO[bytes]]:
        """A local spool that is uploaded when the block exits without error, and dropped otherwise."""
        check_key(key)
        with tempfile.SpooledTemporaryFile(_SPOOL_IN_MEMORY) as spool:
            yield spool
            spool.seek(0)
            self.put(key, spool)

    def move(self, key: str, new_key: str) -> None:
        check_key(new_key)
        self._head(key)  # NotFound before anything changes
        with translate_errors(f"moving s3://{self.bucket}/{key} to {new_key}"):
            # The managed copy goes multipart above 8 MB, so objects over CopyObject's 5 GB move too;
            # metadata (our digest) travels with it.
            self._s3.copy({"Bucket": self.bucket, "Key": key}, self.bucket, new_key)
            self._s3.delete_object(Bucket=self.bucket, Key=key)

    def delete(self, key: str) -> None:
        check_key(key)
        with translate_errors(f"deleting s3://{self.bucket}/{key}"):
            self._s3.delete_object(Bucket=self.bucket, Key=key)

    def _head(self, key: str) -> dict[str, Any]:
        check_key(key)
        try:
            with translate_errors(f"s3://{self.bucket}/{key}"):
                return self._s3.head_object(Bucket=self.bucket, Key=key)  # type: ignore[no-any-return]
        except NotFound:
            raise NotFound(f"no object {key!r} in s3://{self.bucket}") from None

    def _upload(self, key: str, body: IO[bytes], digest: str) -> ObjectInfo:
        with translate_errors(f"uploading s3://{self.bucket}/{key}"):
            # upload_fileobj goes multipart for large bodies; the object appears only when it completes,
            # and a failed multipart upload is aborted by the transfer manager.
            self._s3.upload_fileobj(body, self.bucket, key, ExtraArgs={"Metadata": {_DIGEST_META: digest}})
        return self.stat(key)


class _RangeReader(io.RawIOBase):
    """A seekable raw stream over one S3 object: a streaming GET from the current
    position, reopened (with a Range) only after a seek elsewhere."""

    def __init__(self, s3: Any, bucket: str, key: str, size: int, etag: str) -> None:
        super().__init__()
        self._s3, self._bucket, self._key, self._size, self._etag = s3, bucket, key, size, etag
        self._pos = 0
        self._body: Any = None
        self._body_pos = -1

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self._size or len(buffer) == 0:
            return 0
        if self._body is None or self._body_pos != self._pos:
            self._open_body()
        data = self._body.read(min(len(buffer), self._size - self._pos))
        if not data:
            raise TransientError(f"s3://{self._bucket}/{self._key} ended early at byte {self._pos}; retry the read")
        buffer[: len(data)] = data
        self._pos += len(data)
        self._body_pos = self._pos
        return len(data)

    def close(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None
        super().close()

    def _open_body(self) -> None:
        if self._body is not None:
            self._body.close()
        from botocore.exceptions import ClientError

        try:
            with translate_errors(f"reading s3://{self._bucket}/{self._key}"):
                try:
                    response = self._s3.get_object(
                        Bucket=self._bucket, Key=self._key, Range=f"bytes={self._pos}-", IfMatch=self._etag
                    )
                except ClientError as exc:
                    if error_code(exc) in {"PreconditionFailed", "412"}:
                        raise TransientError(
                            f"s3://{self._bucket}/{self._key} was replaced while being read; it is read again"
                        ) from exc
                    raise
        except NotFound:
            raise NotFound(f"object {self._key!r} disappeared from s3://{self._bucket} while being read") from None
        self._body = response["Body"]
        self._body_pos = self._pos


def _etag(value: str) -> str:
    return value.strip('"')


def check_key(key: str) -> None:
    """Raise PermanentError for a key that is not a relative path (S3 would take it; the other stores would not)."""
    pure = PurePosixPath(key)
    if not key or pure.is_absolute() or ".." in pure.parts or "\\" in key or "\x00" in key:
        raise PermanentError(f"object key {key!r} must be a relative path inside the bucket, without '..'")
