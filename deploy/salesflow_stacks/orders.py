"""The orders pipeline: S3 -> EventBridge -> Step Functions, in two designs.

- scalable (any size): a Distributed Map reads the object from S3 (ItemReader, JSON Lines), batches
  the orders (ItemBatcher) and runs one `validate_batch` Lambda per batch in an express child
  workflow. `.json` documents and gzipped files first go through `split_document`, which streams them
  into JSON Lines under `staging/`. A batch whose Lambda keeps failing goes, whole, to the
  dead-letter queue; refused records are sent there by the Lambda itself, with their reasons.
- classic (small `.json` documents, below `ClassicMaxObjectBytes`): the original design, see
  classic_asl.py.

EventBridge routes each object to exactly one of them by key suffix and size.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from . import classic_asl
from .foundation import Foundation
from .functions import LOG_RETENTION, Functions, FunctionSpec
from .params import Parameters

JSONL_SUFFIXES = (".jsonl", ".ndjson")
SPLIT_SUFFIXES = (".json", ".json.gz", ".jsonl.gz", ".ndjson.gz")
LAMBDA_TRANSIENT = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
]


def machine_logs(scope: Construct, construct_id: str) -> sfn.LogOptions:
    """Execution logs (errors only, without record contents) with a retention."""
    group = logs.LogGroup(scope, construct_id, retention=LOG_RETENTION)
    return sfn.LogOptions(destination=group, level=sfn.LogLevel.ERROR, include_execution_data=False)


class OrdersPipeline(Construct):
    """Both orders state machines, their Lambdas and the EventBridge rules that start them."""

    def __init__(self, scope: Construct, construct_id: str, base: Foundation, fns: Functions, p: Parameters) -> None:
        super().__init__(scope, construct_id)
        self._prefix = p.name_prefix.value_as_string
        self.validate_batch = fns.make(FunctionSpec("validate_batch", memory_mb=1024, timeout=Duration.minutes(2)))
        base.orders.grant(self.validate_batch, "dynamodb:BatchWriteItem", "dynamodb:PutItem")
        base.key.grant_encrypt_decrypt(self.validate_batch)
        base.dead_letters.grant_send_messages(self.validate_batch)

        self.split_document = fns.make(FunctionSpec("split_document", memory_mb=1024, timeout=Duration.minutes(15)))
        base.bucket.grant_read(self.split_document, "orders/*")
        base.bucket.grant_put(self.split_document, "staging/*")
        base.bucket.grant_put(self.split_document, "quarantine/*")
        base.bucket.grant_delete(self.split_document, "orders/*")  # a broken document moves to quarantine/

        self.classic_record = fns.make(FunctionSpec("classic_record", memory_mb=256, timeout=Duration.seconds(10)))

        self.scalable = self._scalable_machine(base, p)
        self.classic = self._classic_machine(base)
        self._rules(base, p)

    # -- scalable ---------------------------------------------------------------------------------
    def _scalable_machine(self, base: Foundation, p: Parameters) -> sfn.StateMachine:
        source = sfn.Pass(
            self,
            "Source",
            parameters={
                "bucket.$": "$.detail.bucket.name",
                "key.$": "$.detail.object.key",
                "execution.$": "$$.Execution.Id",
                # A parameter token cannot pass the CDK's 0..100 check, so the map reads it by path.
                "toleratedFailurePercentage": p.tolerated_failure_percentage.value_as_number,
            },
            result_path="$.source",
        )
        split = tasks.LambdaInvoke(
            self,
            "SplitDocument",
            lambda_function=self.split_document,
            payload=sfn.TaskInput.from_json_path_at("$.source"),
            result_selector={"key.$": "$.Payload.key"},
            result_path="$.lines",
            retry_on_service_exceptions=False,
        )
        split.add_retry(
            errors=LAMBDA_TRANSIENT,
            interval=Duration.seconds(2),
            max_attempts=3,
            backoff_rate=2,
            jitter_strategy=sfn.JitterType.FULL,
        )
        as_is = sfn.Pass(self, "AlreadyLines", parameters={"key.$": "$.source.key"}, result_path="$.lines")

        validate = tasks.LambdaInvoke(
            self,
            "ValidateBatch",
            lambda_function=self.validate_batch,
            result_selector={"reply.$": "$.Payload"},
            retry_on_service_exceptions=False,
        )
        validate.add_retry(
            errors=[*LAMBDA_TRANSIENT, "States.Timeout", "TransientError"],
            interval=Duration.seconds(1),
            max_attempts=6,
            backoff_rate=2,
            max_delay=Duration.seconds(60),
            jitter_strategy=sfn.JitterType.FULL,
        )
        batch_to_dlq = tasks.SqsSendMessage(
            self,
            "BatchToDeadLetters",
            queue=base.dead_letters,
            message_body=sfn.TaskInput.from_object(
                {
                    "reasons": ["batch_failed"],
                    "key": sfn.JsonPath.string_at("$.BatchInput.key"),
                    "execution": sfn.JsonPath.string_at("$.BatchInput.execution"),
                    "items": sfn.JsonPath.list_at("$.Items"),
                    "error": sfn.JsonPath.object_at("$.error"),
                }
            ),
            result_path=sfn.JsonPath.DISCARD,
        )
        batch_to_dlq.add_retry(
            errors=["States.ALL"], interval=Duration.seconds(1), max_attempts=3, jitter_strategy=sfn.JitterType.FULL
        )
        validate.add_catch(batch_to_dlq, errors=["States.ALL"], result_path="$.error")

        each_batch = sfn.DistributedMap(
            self,
            "ForEachBatch",
            item_reader=sfn.S3JsonLItemReader(bucket=base.bucket, key=sfn.JsonPath.string_at("$.lines.key")),
            item_selector={
                "position": sfn.JsonPath.number_at("$$.Map.Item.Index"),
                "record": sfn.JsonPath.object_at("$$.Map.Item.Value"),
            },
            item_batcher=sfn.ItemBatcher(
                max_items_per_batch=p.items_per_batch.value_as_number,
                max_input_bytes_per_batch=p.bytes_per_batch.value_as_number,
                batch_input={
                    "key": sfn.JsonPath.string_at("$.source.key"),
                    "execution": sfn.JsonPath.string_at("$.source.execution"),
                },
            ),
            max_concurrency=p.max_concurrency.value_as_number,
            tolerated_failure_percentage_path="$.source.toleratedFailurePercentage",
            map_execution_type=sfn.StateMachineType.EXPRESS,
            result_writer_v2=sfn.ResultWriterV2(bucket=base.bucket, prefix="executions/results"),
            result_path="$.map",
        )
        each_batch.item_processor(validate)

        run_fail = sfn.Fail(self, "RunFailed", error="OrdersRunFailed", cause="see the dead-letter queue")

        def to_dead_letters(state_id: str, reason: str) -> tasks.SqsSendMessage:
            return tasks.SqsSendMessage(
                self,
                state_id,
                queue=base.dead_letters,
                message_body=sfn.TaskInput.from_object(
                    {
                        "reasons": [reason],
                        "key": sfn.JsonPath.string_at("$.source.key"),
                        "execution": sfn.JsonPath.string_at("$.source.execution"),
                        "error": sfn.JsonPath.object_at("$.error"),
                    }
                ),
                result_path=sfn.JsonPath.DISCARD,
            )

        run_failed = to_dead_letters("RunToDeadLetters", "execution_failed").next(run_fail)
        # split_document raises MalformedDocument after moving the object to quarantine/: the same
        # reason as the classic machine and the embedded face give an unreadable document.
        malformed = to_dead_letters("DocumentToDeadLetters", "malformed_json").next(run_fail)
        each_batch.add_catch(run_failed, errors=["States.ALL"], result_path="$.error")
        split.add_catch(malformed, errors=["MalformedDocument"], result_path="$.error")
        split.add_catch(run_failed, errors=["States.ALL"], result_path="$.error")

        route = (
            sfn.Choice(self, "LinesOrDocument")
            .when(
                sfn.Condition.or_(*(sfn.Condition.string_matches("$.source.key", f"*{s}") for s in JSONL_SUFFIXES)),
                as_is,
            )
            .otherwise(split)
            .afterwards()
        )
        as_is.next(each_batch)
        split.next(each_batch)
        definition = source.next(route)
        each_batch.next(sfn.Succeed(self, "Done"))
        return sfn.StateMachine(
            self,
            "Scalable",
            state_machine_name=f"{self._prefix}-orders",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            state_machine_type=sfn.StateMachineType.STANDARD,
            logs=machine_logs(self, "ScalableLogs"),
        )

    # -- classic ----------------------------------------------------------------------------------
    def _classic_machine(self, base: Foundation) -> sfn.StateMachine:
        role = iam.Role(self, "ClassicRole", assumed_by=iam.ServicePrincipal("states.amazonaws.com"))
        base.bucket.grant_read(role, "orders/*")
        self.classic_record.grant_invoke(role)
        base.orders.grant(role, "dynamodb:PutItem")
        base.key.grant_encrypt_decrypt(role)
        base.dead_letters.grant_send_messages(role)
        return sfn.StateMachine(
            self,
            "Classic",
            state_machine_name=f"{self._prefix}-orders-classic",
            definition_body=sfn.DefinitionBody.from_string(classic_asl.classic_definition_json()),
            definition_substitutions={
                classic_asl.VALIDATE_FUNCTION_ARN: self.classic_record.function_arn,
                classic_asl.ORDERS_TABLE_NAME: base.orders.table_name,
                classic_asl.DEAD_LETTER_QUEUE_URL: base.dead_letters.queue_url,
            },
            role=role,
            state_machine_type=sfn.StateMachineType.STANDARD,
            logs=machine_logs(self, "ClassicLogs"),
        )

    # -- routing ----------------------------------------------------------------------------------
    def _rules(self, base: Foundation, p: Parameters) -> None:
        limit = p.classic_max_object_bytes.value_as_number
        bucket = {"name": [base.bucket.bucket_name]}

        def keys(*suffixes: str) -> list[dict[str, str]]:
            return [{"wildcard": f"orders/*{s}"} for s in suffixes]

        small: dict[str, Any] = {
            "bucket": bucket,
            "object": {"key": keys(".json"), "size": [{"numeric": ["<", limit]}]},
        }
        large: dict[str, Any] = {
            "bucket": bucket,
            "$or": [
                {"object": {"key": keys(".json"), "size": [{"numeric": [">=", limit]}]}},
                {"object": {"key": keys(*JSONL_SUFFIXES, *SPLIT_SUFFIXES[1:])}},
            ],
        }
        for name, detail, machine in (
            ("ClassicRule", small, self.classic),
            ("ScalableRule", large, self.scalable),
        ):
            events.Rule(
                self,
                name,
                description=f"orders/ objects for the {machine.node.id.lower()} orders state machine",
                event_pattern=events.EventPattern(source=["aws.s3"], detail_type=["Object Created"], detail=detail),
                targets=[
                    targets.SfnStateMachine(
                        machine,
                        dead_letter_queue=base.undelivered,
                        retry_attempts=8,
                        max_event_age=Duration.hours(24),
                    )
                ],
            )
