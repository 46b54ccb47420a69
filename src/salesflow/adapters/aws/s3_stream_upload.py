"""Write an S3 object as a stream, in bounded memory and without touching the disk.

S3ObjectStore.writer spools to a local file first, which a Lambda cannot do for an
object larger than its /tmp. ``streaming_upload`` sends parts of ``part_bytes`` as
they fill (a multipart upload) and completes the upload only when the block exits
without error: the object appears whole or not at all, and a block that raises
aborts the upload (no parts left behind to pay for). An object smaller than one
part is sent with one PutObject.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from salesflow.adapters.aws.clients import translate_errors
from salesflow.adapters.aws.s3_store import check_key

PART_BYTES = 16 << 20  # above S3's 5 MB minimum; 10,000 parts of 16 MB = 160 GB at most


class StreamingUpload:
    """The writable side of :func:`streaming_upload`: ``write`` bytes, in order."""

    def __init__(self, s3: Any, bucket: str, key: str, part_bytes: int) -> None:
        self._s3, self._bucket, self._key, self._part_bytes = s3, bucket, key, part_bytes
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self.size = 0

    def write(self, data: bytes) -> int:
        self._buffer += data
        self.size += len(data)
        if len(self._buffer) >= self._part_bytes:
            self._send_part()
        return len(data)

    def _send_part(self) -> None:
        with translate_errors(f"uploading s3://{self._bucket}/{self._key}"):
            if self._upload_id is None:
                started = self._s3.create_multipart_upload(Bucket=self._bucket, Key=self._key)
                self._upload_id = str(started["UploadId"])
            number = len(self._parts) + 1
            sent = self._s3.upload_part(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=bytes(self._buffer),
            )
        self._parts.append({"PartNumber": number, "ETag": sent["ETag"]})
        self._buffer.clear()

    def _complete(self) -> None:
        if self._upload_id is None:
            with translate_errors(f"uploading s3://{self._bucket}/{self._key}"):
                self._s3.put_object(Bucket=self._bucket, Key=self._key, Body=bytes(self._buffer))
            return
        if self._buffer:
            self._send_part()
        with translate_errors(f"uploading s3://{self._bucket}/{self._key}"):
            self._s3.complete_multipart_upload(
                Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, MultipartUpload={"Parts": self._parts}
            )

    def _abort(self) -> None:
        if self._upload_id is None:
            return
        try:
            with translate_errors(f"aborting the upload of s3://{self._bucket}/{self._key}"):
                self._s3.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id)
        except Exception:  # the bucket's lifecycle rule removes incomplete uploads anyway
            pass


@contextmanager
def streaming_upload(s3: Any, bucket: str, key: str, part_bytes: int = PART_BYTES) -> Iterator[StreamingUpload]:
    """A writable stream that becomes s3://bucket/key when the block exits without error.

    Memory holds at most one part. Raises PermanentError / TransientError from S3.
    """
    check_key(key)
    upload = StreamingUpload(s3, bucket, key, part_bytes)
    try:
        yield upload
    except BaseException:
        upload._abort()
        raise
    upload._complete()
