"""Storage shared by the pipelines: the key, the bucket, the tables, the queues and the topic.

Safe by default: one customer managed KMS key (rotated) encrypts the bucket, the tables, the
dead-letter queue and the topic; the bucket blocks public access and refuses plain HTTP; tables
keep point-in-time recovery; everything holding data is retained when the stack is deleted.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .params import Parameters

_PITR = ddb.PointInTimeRecoverySpecification(point_in_time_recovery_enabled=True)


class Foundation(Construct):
    """The data stores every pipeline writes to."""

    def __init__(self, scope: Construct, construct_id: str, params: Parameters) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description="salesflow: bucket, tables, dead-letter queue and notices",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # CloudWatch alarms publish to the encrypted topic.
        self.key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")

        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(id="abort-uploads", abort_incomplete_multipart_upload_after=Duration.days(7)),
                s3.LifecycleRule(id="old-versions", noncurrent_version_expiration=Duration.days(30)),
                s3.LifecycleRule(id="map-results", prefix="executions/", expiration=Duration.days(30)),
                s3.LifecycleRule(id="staging", prefix="staging/", expiration=Duration.days(7)),
                s3.LifecycleRule(id="athena-results", prefix="athena-results/", expiration=Duration.days(30)),
            ],
        )
        # EventBridge notifications straight on the bucket (no notification custom resource).
        cfn_bucket = self.bucket.node.default_child
        assert isinstance(cfn_bucket, s3.CfnBucket)
        cfn_bucket.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
            event_bridge_configuration=s3.CfnBucket.EventBridgeConfigurationProperty(event_bridge_enabled=True)
        )

        # Change records leave DynamoDB through this stream (the Kinesis streaming destination).
        self.changes = kinesis.Stream(
            self,
            "OrderChanges",
            stream_name=f"{params.name_prefix.value_as_string}-order-changes",
            stream_mode=kinesis.StreamMode.ON_DEMAND,
            encryption=kinesis.StreamEncryption.MANAGED,
            retention_period=Duration.hours(24),
        )
        self.orders = ddb.Table(
            self,
            "Orders",
            table_name=params.orders_table_name.value_as_string,
            partition_key=ddb.Attribute(name="order_id", type=ddb.AttributeType.STRING),
            kinesis_stream=self.changes,
            kinesis_precision_timestamp=ddb.ApproximateCreationDateTimePrecision.MICROSECOND,
            **self._table_defaults(),
        )
        self.order_kpi = ddb.Table(
            self,
            "OrderKpi",
            table_name=params.order_kpi_table_name.value_as_string,
            partition_key=ddb.Attribute(name="order_date", type=ddb.AttributeType.STRING),
            **self._table_defaults(),
        )
        self.category_kpi = ddb.Table(
            self,
            "CategoryKpi",
            table_name=params.category_kpi_table_name.value_as_string,
            partition_key=ddb.Attribute(name="category", type=ddb.AttributeType.STRING),
            sort_key=ddb.Attribute(name="order_date", type=ddb.AttributeType.STRING),
            **self._table_defaults(),
        )
        # "All categories of a day": query by order_date.
        self.category_kpi.add_global_secondary_index(
            index_name="by_order_date",
            partition_key=ddb.Attribute(name="order_date", type=ddb.AttributeType.STRING),
            sort_key=ddb.Attribute(name="category", type=ddb.AttributeType.STRING),
        )

        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            queue_name=params.dead_letter_queue_name.value_as_string,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            data_key_reuse=Duration.hours(1),
            enforce_ssl=True,
            retention_period=Duration.days(14),
            visibility_timeout=Duration.minutes(5),
            removal_policy=RemovalPolicy.RETAIN,
        )
        # Events EventBridge could not hand to a state machine (SQS-managed keys: EventBridge
        # cannot use the customer managed key without a grant to the service).
        self.undelivered = sqs.Queue(
            self,
            "UndeliveredEvents",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.notices = sns.Topic(
            self,
            "Notices",
            display_name="salesflow notices and alarms",
            master_key=self.key,
            enforce_ssl=True,
        )

    def _table_defaults(self) -> dict[str, Any]:
        return {
            "billing_mode": ddb.BillingMode.PAY_PER_REQUEST,
            "encryption": ddb.TableEncryption.CUSTOMER_MANAGED,
            "encryption_key": self.key,
            "point_in_time_recovery_specification": _PITR,
            "removal_policy": RemovalPolicy.RETAIN,
        }
