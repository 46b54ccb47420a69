"""boto3 clients (built by runtime.aws_bootstrap from AwsSettings), and SDK errors mapped to ours at the boundary.

boto3 is imported here lazily: importing salesflow never needs the ``[aws]`` extra.
Clients are typed ``Any`` because boto3 ships no stubs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from salesflow.domain.errors import NotFound, PermanentError, TransientError

# Error codes a retry can get past (throttling, capacity, a transaction that lost a race).
_TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "InternalServerError",
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
        "TransactionConflictException",
        "RequestThrottled",
        "TooManyRequestsException",
    }
)
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound", "ResourceNotFoundException", "NoSuchBucket"})


def client(service: str, region: str, endpoint_url: str | None = None) -> Any:
    """A boto3 client for service in region; endpoint_url points it at an emulator (moto)."""
    import boto3  # the [aws] extra
    from botocore.config import Config

    # Our own RetryPolicy retries with jitter where it matters (unprocessed items); botocore's
    # standard mode covers throttled calls everywhere else.
    config = Config(retries={"mode": "standard", "max_attempts": 5})
    return boto3.client(service, region_name=region, endpoint_url=endpoint_url, config=config)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


@contextmanager
def translate_errors(what: str) -> Iterator[None]:
    """Map botocore errors to TransientError / NotFound / PermanentError by error code, never by text."""
    from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, ReadTimeoutError

    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        if code in _TRANSIENT_CODES:
            raise TransientError(f"{what}: AWS is throttling or busy ({code}); retrying") from exc
        if code in _NOT_FOUND_CODES:
            raise NotFound(f"{what}: not found ({code})") from exc
        raise PermanentError(f"{what}: AWS refused the call ({code}: {exc})") from exc
    except (ConnectionError, ReadTimeoutError) as exc:
        raise TransientError(f"{what}: cannot reach AWS ({exc}); retrying") from exc
    except BotoCoreError as exc:
        raise PermanentError(f"{what}: {exc}; check the [aws] settings and credentials") from exc
