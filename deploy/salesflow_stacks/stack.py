"""The one salesflow stack: shared storage, then the three pipelines, then the alarms."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from .alarms import Alarms
from .batch import BatchPipeline
from .foundation import Foundation
from .functions import Functions
from .orders import OrdersPipeline
from .params import Parameters
from .stream import StreamPipeline


class SalesflowStack(Stack):
    """Everything `make deploy` creates (docs/aws.md lists it)."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.params = Parameters.declare(self)
        self.base = Foundation(self, "Storage", self.params)
        fns = Functions(self, "Functions", self.base)
        self.orders = OrdersPipeline(self, "Orders", self.base, fns, self.params)
        self.batch = BatchPipeline(self, "Batch", self.base, fns, self.params)
        self.stream = StreamPipeline(self, "Stream", self.base, fns, self.params)
        Alarms(
            self,
            "Alarms",
            self.base,
            self.params,
            machines={
                "Orders": self.orders.scalable,
                "OrdersClassic": self.orders.classic,
                "Batch": self.batch.machine,
            },
            functions=[
                self.orders.validate_batch,
                self.orders.split_document,
                self.orders.classic_record,
                self.batch.presence_check,
                self.batch.cleanup,
                self.stream.transform,
            ],
            delivery_stream_name=self.stream.delivery.ref,
        )
        for name, value in (
            ("BucketName", self.base.bucket.bucket_name),
            ("OrdersTable", self.base.orders.table_name),
            ("DeadLetterQueueUrl", self.base.dead_letters.queue_url),
            ("NoticesTopicArn", self.base.notices.topic_arn),
            ("OrdersStateMachineArn", self.orders.scalable.state_machine_arn),
            ("ClassicStateMachineArn", self.orders.classic.state_machine_arn),
            ("BatchStateMachineArn", self.batch.machine.state_machine_arn),
        ):
            CfnOutput(self, name, value=value)
