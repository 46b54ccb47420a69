"""CloudWatch alarms, all publishing to the notices topic: what a person on call must hear about."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from .foundation import Foundation
from .params import Parameters

PERIOD = Duration.minutes(5)


class Alarms(Construct):
    """Dead-letter depth, failed executions, Firehose delivery, iterator age, Lambda errors."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        base: Foundation,
        p: Parameters,
        machines: dict[str, sfn.StateMachine],
        functions: list[lambda_.Function],
        delivery_stream_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self._action = actions.SnsAction(base.notices)

        self._alarm(
            "DeadLetterDepth",
            base.dead_letters.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"),
            p.dlq_depth_alarm.value_as_number,
            "more dead letters wait than DeadLetterDepthAlarm: inspect and redrive them",
        )
        for name, machine in machines.items():
            self._alarm(
                f"{name}ExecutionsFailed",
                machine.metric_failed(period=PERIOD, statistic="Sum"),
                1,
                f"a {name} execution failed: see its history in the Step Functions console",
            )
            self._alarm(
                f"{name}ExecutionsTimedOut", machine.metric_timed_out(period=PERIOD, statistic="Sum"), 1, "timed out"
            )
        self._alarm(
            "IteratorAge",
            base.changes.metric_get_records_iterator_age_milliseconds(period=PERIOD, statistic="Maximum"),
            p.iterator_age_alarm_ms.value_as_number,
            "the lake lags behind the orders table",
        )

        def firehose(metric: str, statistic: str) -> cw.Metric:
            return cw.Metric(
                namespace="AWS/Firehose",
                metric_name=metric,
                dimensions_map={"DeliveryStreamName": delivery_stream_name},
                period=PERIOD,
                statistic=statistic,
            )

        lt = cw.ComparisonOperator.LESS_THAN_THRESHOLD
        self._alarm("FirehoseDeliveryFailed", firehose("DeliveryToS3.Success", "Minimum"), 1, "S3 refused", lt)
        self._alarm(
            "FirehoseTransformFailed", firehose("ExecuteProcessing.Success", "Minimum"), 1, "transform failing", lt
        )
        self._alarm("FirehoseConversionFailed", firehose("FailedConversion.Records", "Sum"), 1, "Parquet refused")
        self._alarm("FirehoseFreshness", firehose("DeliveryToS3.DataFreshness", "Maximum"), 900, "lake is stale")
        for fn in functions:
            self._alarm(f"{fn.node.id}Errors", fn.metric_errors(period=PERIOD, statistic="Sum"), 1, "errors")

    def _alarm(
        self,
        name: str,
        metric: cw.IMetric,
        threshold: float,
        description: str,
        comparison: cw.ComparisonOperator = cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    ) -> cw.Alarm:
        alarm = cw.Alarm(
            self,
            name,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=comparison,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description=f"salesflow: {description}",
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        return alarm
