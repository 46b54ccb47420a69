"""A local copy of one S3 object, written back only if nobody replaced it meanwhile.

``fetch`` downloads the object to a path and returns its ETag (None when there is no
such object yet); ``store`` uploads the path with ``If-Match: <that ETag>`` (or
``If-None-Match: *`` when there was none). S3 refuses the write with 412 when the
object changed in between, and ``store`` raises ConcurrentUpdate: two holders of the
same copy can never overwrite each other's work. Used for the batch ledger's SQLite
file (salesflow.aws.batch_task).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from salesflow.adapters.aws.clients import error_code, translate_errors
from salesflow.domain.errors import NotFound, PermanentError


class ConcurrentUpdate(PermanentError):
    """The object changed since it was fetched; the local changes were not written."""


def fetch(s3: Any, bucket: str, key: str, path: Path) -> str | None:
    """Download s3://bucket/key to path (streamed); its ETag, or None if there is no object."""
    try:
        with translate_errors(f"downloading s3://{bucket}/{key}"):
            response = s3.get_object(Bucket=bucket, Key=key)
    except NotFound:
        return None
    with path.open("wb") as out, response["Body"] as body:
        while piece := body.read(1 << 20):
            out.write(piece)
    return str(response["ETag"])


def store(s3: Any, bucket: str, key: str, path: Path, etag: str | None) -> str:
    """Upload path to s3://bucket/key if the object is still the one fetched (etag; None: absent).

    Returns the new ETag. Raises ConcurrentUpdate when it was replaced, or created, meanwhile.
    """
    from botocore.exceptions import ClientError

    condition = {"IfMatch": etag} if etag is not None else {"IfNoneMatch": "*"}
    with translate_errors(f"uploading s3://{bucket}/{key}"), path.open("rb") as body:
        try:
            response = s3.put_object(Bucket=bucket, Key=key, Body=body, **condition)
        except ClientError as exc:
            if error_code(exc) in {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}:
                raise ConcurrentUpdate(
                    f"s3://{bucket}/{key} changed since this task read it (another task wrote it); "
                    "nothing of this task's changes was written: run the step again"
                ) from exc
            raise
    return str(response["ETag"])
