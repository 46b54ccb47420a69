"""moto on 127.0.0.1 for the AWS face's tests: one server per test session, fresh names per test.

Imported by tests/aws/conftest.py and tests/contract/conftest.py. The server is
started by the first test that needs it and stopped at the end of the session;
its credentials are dummies set for the session only.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from salesflow.adapters.aws.clients import client
from salesflow.adapters.aws.provision import create_bucket, create_queue, create_tables, table_definitions

REGION = "us-east-1"
_DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """The URL of a moto server on 127.0.0.1 (a free port), started for this session."""
    from moto.server import ThreadedMotoServer

    saved = {name: os.environ.get(name) for name in _DUMMY_ENV}
    os.environ.update(_DUMMY_ENV)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass
class AwsWorld:
    """Fresh resources of one test on the session's moto server, and clients to reach them."""

    endpoint: str
    bucket: str
    orders_table: str
    executions_table: str
    order_kpi_table: str
    category_kpi_table: str
    queue_url: str
    s3: Any
    dynamodb: Any
    dynamodbstreams: Any
    sqs: Any
    sns: Any


def make_world(endpoint: str, *, bucket: bool = True, tables: bool = True, queue: bool = True) -> AwsWorld:
    """Clients, fresh names, and the resources asked for (each costs moto a few calls)."""
    suffix = uuid.uuid4().hex[:10]
    s3, dynamodb, sqs = (client(name, REGION, endpoint) for name in ("s3", "dynamodb", "sqs"))
    names = {
        "bucket": f"salesflow-{suffix}",
        "orders_table": f"orders-{suffix}",
        "executions_table": f"executions-{suffix}",
        "order_kpi_table": f"OrderKPI-{suffix}",
        "category_kpi_table": f"CategoryKPI-{suffix}",
    }
    if bucket:
        create_bucket(s3, names["bucket"], REGION)
    if tables:
        create_tables(
            dynamodb,
            table_definitions(
                names["orders_table"], names["executions_table"], names["order_kpi_table"], names["category_kpi_table"]
            ),
        )
    queue_url = create_queue(sqs, f"dead-letters-{suffix}") if queue else ""
    return AwsWorld(
        endpoint=endpoint,
        queue_url=queue_url,
        s3=s3,
        dynamodb=dynamodb,
        dynamodbstreams=client("dynamodbstreams", REGION, endpoint),
        sqs=sqs,
        sns=client("sns", REGION, endpoint),
        **names,
    )


@pytest.fixture
def aws(moto_endpoint: str) -> AwsWorld:
    return make_world(moto_endpoint)


def stream_changes(world: AwsWorld) -> list[dict[str, Any]]:
    """The orders table's stream records, oldest first, in the shape of the embedded face's
    `changes` view: sequence (1, 2, ... in stream order), event_type, order_id, both images
    as the records' JSON text."""
    streams, table = world.dynamodbstreams, world.dynamodb.describe_table(TableName=world.orders_table)["Table"]
    records: list[dict[str, Any]] = []
    description = streams.describe_stream(StreamArn=table["LatestStreamArn"])["StreamDescription"]
    for shard in description["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=table["LatestStreamArn"], ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator)
            if not page["Records"]:
                break
            records.extend(page["Records"])
            iterator = page.get("NextShardIterator")
    records.sort(key=lambda r: int(r["dynamodb"]["SequenceNumber"]))

    def image(record: dict[str, Any], name: str) -> str | None:
        found = record["dynamodb"].get(name)
        return None if found is None else found["record"]["S"]

    return [
        {
            "sequence": n,
            "event_type": record["eventName"],
            "order_id": record["dynamodb"]["Keys"]["order_id"]["S"],
            "old_image": image(record, "OldImage"),
            "new_image": image(record, "NewImage"),
        }
        for n, record in enumerate(records, start=1)
    ]
