"""split_document against moto's S3: documents become the JSON Lines the Distributed Map reads."""

from __future__ import annotations

import gzip
import json
from importlib import resources
from io import BytesIO
from typing import Any

import pytest

from salesflow.adapters.aws.s3_store import S3ObjectStore
from salesflow.aws.handlers import split_document
from salesflow.domain.errors import MalformedDocument
from salesflow.readers import read_document, read_lines
from tests.aws.moto import AwsWorld

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:salesflow-orders:run-1"


def records(n: int) -> list[dict[str, Any]]:
    return [
        {
            "contact-info": {"name": f"Customer {i}", "email": f"c{i}@example.com"},
            "order-info": {"OrderId": str(i), "item-id": "101", "item-desc": "Item", "qty": i % 3 + 1, "price": 19.99},
        }
        for i in range(n)
    ]


def put(aws: AwsWorld, key: str, body: bytes) -> None:
    aws.s3.put_object(Bucket=aws.bucket, Key=key, Body=body)


def body(aws: AwsWorld, key: str) -> bytes:
    return bytes(aws.s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read())


def event(aws: AwsWorld, key: str) -> dict[str, Any]:
    return {"bucket": aws.bucket, "key": key, "execution": EXECUTION, "toleratedFailurePercentage": 5}


def embedded(document: bytes) -> list[tuple[int, Any]]:
    """(position, record) as the embedded face reads the document."""
    blocks = read_document(BytesIO(document))
    return [(p, v) for block in blocks for p, v in zip(block.positions, block.values, strict=True)]


def as_map_items(lines: bytes) -> list[tuple[int, Any]]:
    """(position, record) as the Distributed Map gives them: $$.Map.Item.Index and the parsed line."""
    return [(p, v) for block in read_lines(BytesIO(lines)) for p, v in zip(block.positions, block.values, strict=True)]


def test_a_document_becomes_json_lines_with_the_same_records_in_order(aws: AwsWorld) -> None:
    document = json.dumps({"orders": records(5), "source": "shop"}, indent=2).encode()
    put(aws, "orders/2026-11-25.json", document)

    reply = split_document.handle(event(aws, "orders/2026-11-25.json"), aws.s3)

    assert reply["key"] == "staging/run-1/orders/2026-11-25.json.jsonl"
    assert reply["records"] == 5
    lines = body(aws, reply["key"])
    assert lines.count(b"\n") == 5  # one record per line, no blank lines
    # The map's 0-based item index is the embedded face's position; records equal (numbers exact).
    assert [(i - 1, v) for i, v in as_map_items(lines)] == embedded(document)


def test_the_packaged_sample_splits_like_the_embedded_face_reads_it(aws: AwsWorld) -> None:
    document = resources.files("salesflow.samples").joinpath("orders", "orders-2026-11-01.json").read_bytes()
    put(aws, "orders/sample.json", document)

    reply = split_document.handle(event(aws, "orders/sample.json"), aws.s3)

    assert [(i - 1, v) for i, v in as_map_items(body(aws, reply["key"]))] == embedded(document)


def test_lines_cross_parts_of_a_multipart_upload_whole(aws: AwsWorld) -> None:
    document = json.dumps(records(45_000)).encode()  # a bare array, about 7 MB of lines: two parts of 5 MB
    put(aws, "orders/big.json", document)

    reply = split_document.handle(event(aws, "orders/big.json"), aws.s3, part_bytes=5 << 20)

    assert reply["bytes"] > 5 << 20

    assert [(i - 1, v) for i, v in as_map_items(body(aws, reply["key"]))] == embedded(document)


def test_gzip_documents_and_gzip_json_lines_are_split(aws: AwsWorld) -> None:
    document = json.dumps({"orders": records(4)}).encode()
    put(aws, "orders/a.json.gz", gzip.compress(document))
    lines = b"".join(json.dumps(r).encode() + b"\n" for r in records(3)) + b"\n{not json\n"
    put(aws, "orders/b.jsonl.gz", gzip.compress(lines))

    doc_reply = split_document.handle(event(aws, "orders/a.json.gz"), aws.s3)
    lines_reply = split_document.handle(event(aws, "orders/b.jsonl.gz"), aws.s3)

    assert [(i - 1, v) for i, v in as_map_items(body(aws, doc_reply["key"]))] == embedded(document)
    staged = [v for _, v in as_map_items(body(aws, lines_reply["key"]))]
    assert staged[:3] == [v for _, v in as_map_items(lines)][:3]
    assert staged[3] == "{not json"  # kept as its text: validate_batch dead-letters it, nothing is lost
    assert lines_reply["records"] == 4


def test_a_truncated_document_goes_to_quarantine_with_its_byte_offset(aws: AwsWorld) -> None:
    document = json.dumps({"orders": records(3)}).encode()[:-40]
    put(aws, "orders/cut.json", document)

    with pytest.raises(MalformedDocument) as raised:
        split_document.handle(event(aws, "orders/cut.json"), aws.s3)

    with pytest.raises(MalformedDocument) as embedded_error:
        embedded(document)
    assert raised.value.offset == embedded_error.value.offset  # the byte the embedded face names
    assert type(raised.value).__name__ == "MalformedDocument"  # the error name the ASL's Catch matches
    store = S3ObjectStore(aws.s3, aws.bucket)
    keys = {info.key for info in store.list()}
    assert "orders/cut.json" not in keys
    assert body(aws, "quarantine/orders/cut.json") == document
    note = json.loads(body(aws, "quarantine/orders/cut.json.reason.json"))
    assert note["offset"] == embedded_error.value.offset
    assert "truncated" in note["reason"]
    assert note["execution"] == EXECUTION
    assert not any(key.startswith("staging/") for key in keys)  # the aborted upload left nothing
    assert aws.s3.list_multipart_uploads(Bucket=aws.bucket).get("Uploads", []) == []

    with pytest.raises(MalformedDocument) as again:  # a retried invocation: the same error, not NotFound
        split_document.handle(event(aws, "orders/cut.json"), aws.s3)
    assert again.value.offset == raised.value.offset


def test_a_broken_gzip_is_quarantined(aws: AwsWorld) -> None:
    put(aws, "orders/bad.json.gz", gzip.compress(b'{"orders": [{"a": 1}]}')[:-12])

    with pytest.raises(MalformedDocument):
        split_document.handle(event(aws, "orders/bad.json.gz"), aws.s3)

    assert body(aws, "quarantine/orders/bad.json.gz.reason.json")


def test_the_lambda_handler_wires_itself_from_the_environment(aws: AwsWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.aws.test_handlers_aws import FakeContext

    monkeypatch.setenv("SALESFLOW_AWS__ENDPOINT_URL", aws.endpoint)
    monkeypatch.setenv("SALESFLOW_AWS__BUCKET", aws.bucket)
    put(aws, "orders/x.json", json.dumps({"orders": records(2)}).encode())

    reply = split_document.handler(event(aws, "orders/x.json"), FakeContext())

    assert reply["records"] == 2
