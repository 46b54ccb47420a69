"""Writing many DynamoDB items: BatchWriteItem pages, unprocessed items retried with backoff.

BatchWriteItem takes at most 25 requests and never two for one key, and may hand
back ``UnprocessedItems`` when a partition is throttled: those, and only those,
are sent again after an exponential, fully jittered wait (salesflow.retry). A
page that still has unprocessed items after the last retry raises TransientError,
and nothing after it is sent, so the caller can replay the whole write.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from salesflow.adapters.aws.clients import translate_errors
from salesflow.domain.errors import TransientError
from salesflow.retry import RetryPolicy

BATCH_LIMIT = 25  # requests per BatchWriteItem call
TRANSACTION_LIMIT = 100  # items per TransactWriteItems call
T = TypeVar("T")


def batch_write(
    dynamodb: Any,
    table: str,
    requests: Sequence[dict[str, Any]],
    retry: RetryPolicy,
    on_retry: Callable[[BaseException], None] | None = None,
) -> None:
    """Send PutRequest / DeleteRequest items in pages of 25, retrying unprocessed ones.

    The requests of one call must name distinct keys (see :func:`rounds`)."""
    for start in range(0, len(requests), BATCH_LIMIT):
        pending: list[dict[str, Any]] = list(requests[start : start + BATCH_LIMIT])

        def send(pending: list[dict[str, Any]] = pending) -> None:
            with translate_errors(f"writing {len(pending)} items to {table}"):
                response = dynamodb.batch_write_item(RequestItems={table: pending})
            left = response.get("UnprocessedItems", {}).get(table, [])
            pending[:] = left  # only what was not written goes again
            if left:
                raise TransientError(f"{len(left)} items of a batch write to {table} were not processed; retrying")

        retry.call(send, on_retry)


def rounds(items: Iterable[T], key: Callable[[T], Hashable]) -> list[list[T]]:
    """Split items into rounds with each key at most once per round, keeping each key's order:
    round n holds the n-th occurrence of every key. Written round after round, a key written
    twice in a chunk changes twice, in file order, like the embedded face (and its stream)."""
    out: list[list[T]] = []
    seen: dict[Hashable, int] = {}
    for item in items:
        k = key(item)
        n = seen.get(k, 0)
        seen[k] = n + 1
        if n == len(out):
            out.append([])
        out[n].append(item)
    return out


def plain(value: Any) -> Any:
    """A deserialised DynamoDB value with whole numbers as int (boto3 gives every number as Decimal)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [plain(v) for v in value]
    return value


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    """Typed attribute values (DynamoDB JSON) of a plain dict; None values are left out."""
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    return {name: serializer.serialize(value) for name, value in values.items() if value is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """A plain dict of a typed item (DynamoDB JSON), numbers as int where whole."""
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {name: plain(deserializer.deserialize(value)) for name, value in item.items()}
