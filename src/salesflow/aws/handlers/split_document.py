"""The scalable orders machine's first step for documents: an object -> JSON Lines under staging/.

Input (the ``Source`` state of deploy/salesflow_stacks/orders.py)::

    {"bucket": "...", "key": "orders/x.json", "execution": "<execution ARN>", "toleratedFailurePercentage": 5}

Reply: ``{"key": "staging/<execution name>/<key>.jsonl", "records": n, "bytes": n}``; the
``SplitDocument`` state keeps ``key``, and the Distributed Map reads that object with
its JSONL ItemReader, one order per line, giving each its ``$$.Map.Item.Index``.

The object is read with the embedded face's readers, in one streaming pass:
``.json`` (``{"orders": [...]}`` or a bare array, gzipped or not) with
``read_document``, and gzipped JSON Lines with ``read_lines``. So records are the
values the embedded face reads (numbers exact), in document order, and a record's
line index in the staging object is its position on the embedded face (the 0-based
index in the array). For gzipped JSON Lines the index counts records, not line numbers
(blank lines are not records), as for plain ``.jsonl`` read natively by the map; a line
that does not parse becomes its text as a JSON string, which ``validate_batch`` refuses
(``not_an_object``) and dead-letters with that text, so it is not lost.

Memory stays bounded: the object is read through S3ObjectStore's ranged stream and the
lines leave as multipart parts of 16 MB (adapters/aws/s3_stream_upload.py); a
failure aborts the upload, so a staging object is whole or absent. The staging key
depends only on the execution and the key: a retried invocation writes the same object.

A document that cannot be read applies nothing, as on the embedded face: the object
moves to ``quarantine/<key>`` with ``quarantine/<key>.reason.json`` (reason, byte offset,
what to fix), and the handler raises ``MalformedDocument``. The state machine's Catch on
that error name sends ``malformed_json`` with the error to the dead-letter queue and ends
the execution in ``Fail`` (no retry: Retry lists only Lambda's transient errors). A
repeated invocation after the move finds the reason file and raises the same error.
"""

from __future__ import annotations

from datetime import UTC, datetime
from io import BytesIO
from typing import IO, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from salesflow.adapters.aws.clients import client
from salesflow.adapters.aws.s3_store import S3ObjectStore
from salesflow.adapters.aws.s3_stream_upload import PART_BYTES, streaming_upload
from salesflow.aws.handlers.services import logger
from salesflow.domain.errors import MalformedDocument, NotFound, SalesflowError
from salesflow.jsoncodec import from_json, to_json
from salesflow.pipelines.orders import open_unzipped
from salesflow.readers import FormatName, Unreadable, detect_format, read_document, read_lines
from salesflow.readers.documents import MAX_RECORD_BYTES
from salesflow.runtime.settings import Settings

STAGING = "staging/"
QUARANTINE = "quarantine/"


def handle(event: dict[str, Any], s3: Any, *, part_bytes: int = PART_BYTES) -> dict[str, Any]:
    """Split the event's object into JSON Lines under staging/; raises MalformedDocument
    (after moving the object to quarantine/) when it cannot be read."""
    bucket, key = str(event["bucket"]), str(event["key"])
    execution = str(event.get("execution") or "manual")
    store = S3ObjectStore(s3, bucket)
    target = staging_key(execution, key)
    try:
        with open_unzipped(store, key) as stream, streaming_upload(s3, bucket, target, part_bytes) as out:
            records = _write_lines(stream, key, out)
    except MalformedDocument as exc:
        _quarantine(store, key, execution, exc)
        raise MalformedDocument(f"{exc.reason}; the object is now {QUARANTINE}{key}", exc.offset) from None
    except NotFound:
        _raise_if_quarantined(store, key)
        raise
    reply = {"key": target, "records": records, "bytes": out.size}
    logger.info("document split", extra={"source": key, **reply})
    return reply


def staging_key(execution: str, key: str) -> str:
    """Where the lines of key go for this execution (the name at the end of its ARN)."""
    name = execution.rsplit(":", 1)[-1] or "manual"
    return f"{STAGING}{name}/{key}.jsonl"


def _write_lines(stream: IO[bytes], key: str, out: Any) -> int:
    fmt = detect_format(key)
    if fmt is None:
        raise MalformedDocument("not an orders file: name it .json, .jsonl or .ndjson (optionally .gz)", 0)
    reader = read_document if fmt is FormatName.DOCUMENT else read_lines
    records = 0
    for block in reader(stream, max_record_bytes=MAX_RECORD_BYTES):
        text = "".join(to_json(value.raw if isinstance(value, Unreadable) else value) + "\n" for value in block.values)
        out.write(text.encode())
        records += len(block.values)
    return records


def _quarantine(store: S3ObjectStore, key: str, execution: str, exc: MalformedDocument) -> None:
    """As the embedded face does (pipelines/orders.py): the object and a note beside it."""
    target = QUARANTINE + key
    note = {
        "key": key,
        "execution": execution,
        "reason": exc.reason,
        "offset": exc.offset,
        "at": datetime.now(UTC).isoformat(),
        "fix": f"repair the file and put it again under {key}; nothing of it was applied",
    }
    try:
        store.move(key, target)
        store.put(target + ".reason.json", BytesIO(to_json(note).encode()))
    except SalesflowError as failure:  # the error still reaches the queue; the object stays where it was
        logger.warning("quarantine incomplete", extra={"key": key, "error": str(failure)})
    logger.warning("document quarantined", extra={"key": key, "reason": exc.reason, "offset": exc.offset})


def _raise_if_quarantined(store: S3ObjectStore, key: str) -> None:
    """A retried invocation after the object moved: the same error again, not NotFound."""
    try:
        with store.open(QUARANTINE + key + ".reason.json") as stream:
            note = from_json(stream.read())
    except NotFound:
        return
    raise MalformedDocument(f"{note['reason']}; the object is now {QUARANTINE}{key}", int(note["offset"]))


@logger.inject_lambda_context(correlation_id_path="execution")
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    aws = Settings().aws
    return handle(event, client("s3", aws.region, aws.endpoint_url))


lambda_handler = handler
