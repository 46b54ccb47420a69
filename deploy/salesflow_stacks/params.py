"""Stack parameters: names, concurrency and batch sizes a deployer may change without editing code."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import CfnParameter, Stack


@dataclass(frozen=True, slots=True)
class Parameters:
    """Every CfnParameter of the stack, read as tokens (resolved by CloudFormation at deploy time)."""

    name_prefix: CfnParameter
    orders_table_name: CfnParameter
    order_kpi_table_name: CfnParameter
    category_kpi_table_name: CfnParameter
    dead_letter_queue_name: CfnParameter
    glue_database_name: CfnParameter
    max_concurrency: CfnParameter
    items_per_batch: CfnParameter
    bytes_per_batch: CfnParameter
    tolerated_failure_percentage: CfnParameter
    classic_max_object_bytes: CfnParameter
    firehose_buffer_seconds: CfnParameter
    dlq_depth_alarm: CfnParameter
    iterator_age_alarm_ms: CfnParameter

    @classmethod
    def declare(cls, stack: Stack) -> Parameters:
        """Declare the parameters on `stack`, with defaults that deploy a working pipeline."""

        def text(name: str, default: str, description: str, pattern: str = r"^[A-Za-z0-9_.-]{1,200}$") -> CfnParameter:
            return CfnParameter(
                stack, name, type="String", default=default, description=description, allowed_pattern=pattern
            )

        def number(name: str, default: int, low: int, high: int, description: str) -> CfnParameter:
            return CfnParameter(
                stack, name, type="Number", default=default, min_value=low, max_value=high, description=description
            )

        return cls(
            name_prefix=text("NamePrefix", "salesflow", "prefix of state machine, stream and workgroup names"),
            orders_table_name=text("OrdersTableName", "salesflow-orders", "DynamoDB orders table"),
            order_kpi_table_name=text("OrderKpiTableName", "OrderKPI", "DynamoDB daily order KPIs"),
            category_kpi_table_name=text("CategoryKpiTableName", "CategoryKPI", "DynamoDB daily category KPIs"),
            dead_letter_queue_name=text(
                "DeadLetterQueueName", "salesflow-dead-letters", "SQS queue of refused records"
            ),
            glue_database_name=text(
                "GlueDatabaseName", "salesflow", "Glue database of the lake", r"^[a-z0-9_]{1,200}$"
            ),
            max_concurrency=number(
                "MaxConcurrency", 100, 1, 10000, "concurrent child workflows (= Lambda calls) of the Distributed Map"
            ),
            items_per_batch=number("ItemsPerBatch", 500, 1, 100000, "orders per validate_batch call"),
            bytes_per_batch=number(
                "BytesPerBatch", 131072, 1024, 262144, "largest batch in bytes (kept under SQS's message size)"
            ),
            tolerated_failure_percentage=number(
                "ToleratedFailurePercentage", 5, 0, 100, "failed batches (not even dead-lettered) a run tolerates"
            ),
            classic_max_object_bytes=number(
                "ClassicMaxObjectBytes", 100000, 0, 200000, ".json objects smaller than this go to the classic machine"
            ),
            firehose_buffer_seconds=number("FirehoseBufferSeconds", 60, 0, 900, "Firehose buffer age before a write"),
            dlq_depth_alarm=number("DeadLetterDepthAlarm", 1000, 1, 10000000, "alarm when more letters wait"),
            iterator_age_alarm_ms=number(
                "IteratorAgeAlarmMs", 60000, 1000, 86400000, "alarm when the lake's reader lags more than this"
            ),
        )
