"""The adapters a Lambda needs, built once per container from SALESFLOW_AWS__* variables.

Nothing is built at import time: the first invocation builds them (and later ones
in the same container reuse them, as Lambda intends).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from aws_lambda_powertools import Logger

from salesflow.adapters.aws.clients import client
from salesflow.adapters.aws.dynamo_ledger import DynamoOrderLedger
from salesflow.adapters.aws.s3_store import S3ObjectStore
from salesflow.adapters.aws.sqs_dead_letters import SqsDeadLetters
from salesflow.runtime.settings import AwsSettings, Settings

logger = Logger(service="salesflow")


@dataclass(frozen=True)
class Services:
    settings: AwsSettings
    store: S3ObjectStore
    ledger: DynamoOrderLedger
    dead_letters: SqsDeadLetters


def build_services(aws: AwsSettings) -> Services:
    dynamodb = client("dynamodb", aws.region, aws.endpoint_url)
    sqs = client("sqs", aws.region, aws.endpoint_url)
    queue_url = sqs.get_queue_url(QueueName=aws.dead_letter_queue)["QueueUrl"]
    return Services(
        settings=aws,
        store=S3ObjectStore(client("s3", aws.region, aws.endpoint_url), aws.bucket),
        ledger=DynamoOrderLedger(dynamodb, aws.orders_table, aws.executions_table),
        dead_letters=SqsDeadLetters(sqs, queue_url, dynamodb, aws.executions_table),
    )


@cache
def services() -> Services:
    """The container's services, from SALESFLOW_AWS__* (see runtime.settings.AwsSettings)."""
    return build_services(Settings().aws)
