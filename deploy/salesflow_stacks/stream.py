"""The stream pipeline: orders table -> Kinesis -> Firehose (Lambda transform) -> Parquet lake -> Athena.

The orders table streams every change into Kinesis (the Kinesis streaming destination). Firehose
reads the stream, calls `firehose_transform` (typed DynamoDB JSON to the lake's flat row, plus the
`dt` and `hour` partition keys as metadata), converts the rows to Parquet with the Glue table's
schema and writes them to `lake/orders/dt=.../hour=.../`. The Glue table uses partition projection,
so Athena sees new partitions without a crawler; the workgroup keeps the saved queries.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_logs as logs
from constructs import Construct

from .foundation import Foundation
from .functions import LOG_RETENTION, Functions, FunctionSpec
from .params import Parameters

LAKE_PREFIX = "lake/orders/"
TABLE_NAME = "order_changes"
# The row firehose_transform emits (README, "The stream"), as Glue/Athena types.
COLUMNS = (
    ("sequence", "string"),
    ("event_type", "string"),
    ("event_time", "timestamp"),
    ("order_id", "string"),
    ("customer_name", "string"),
    ("customer_email", "string"),
    ("item_id", "string"),
    ("product_name", "string"),
    ("quantity", "bigint"),
    ("price", "decimal(38,10)"),
    ("new_image", "string"),
    ("old_image", "string"),
)
UNITS_TODAY = """-- Units sold per product today (UTC), from the changes of today's partitions.
SELECT product_name, SUM(quantity) AS units
FROM {table}
WHERE dt = CAST(current_date AS varchar) AND event_type <> 'REMOVE'
GROUP BY product_name
ORDER BY units DESC"""
UNITS_CURRENT = """-- Units per product over every order's latest image (removed orders left out).
WITH latest AS (
  SELECT *, row_number() OVER (PARTITION BY order_id ORDER BY event_time DESC, sequence DESC) AS rn
  FROM {table}
)
SELECT product_name, SUM(quantity) AS units
FROM latest
WHERE rn = 1 AND event_type <> 'REMOVE'
GROUP BY product_name
ORDER BY units DESC"""


class StreamPipeline(Construct):
    """Firehose, its transform, the Glue table and the Athena workgroup."""

    def __init__(self, scope: Construct, construct_id: str, base: Foundation, fns: Functions, p: Parameters) -> None:
        super().__init__(scope, construct_id)
        prefix = p.name_prefix.value_as_string
        database = p.glue_database_name.value_as_string
        self.transform = fns.make(FunctionSpec("firehose_transform", memory_mb=512, timeout=Duration.minutes(1)))

        db = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=Aws.ACCOUNT_ID,
            database_input=glue.CfnDatabase.DatabaseInputProperty(name=database, description="salesflow lake"),
        )
        location = f"s3://{base.bucket.bucket_name}/{LAKE_PREFIX}"
        self.table = glue.CfnTable(
            self,
            "OrderChanges",
            catalog_id=Aws.ACCOUNT_ID,
            database_name=database,
            table_input=glue.CfnTable.TableInputProperty(
                name=TABLE_NAME,
                table_type="EXTERNAL_TABLE",
                description="every change of the orders table, one row per change",
                partition_keys=[
                    glue.CfnTable.ColumnProperty(name="dt", type="string"),
                    glue.CfnTable.ColumnProperty(name="hour", type="string"),
                ],
                parameters={
                    "classification": "parquet",
                    "projection.enabled": "true",
                    "projection.dt.type": "date",
                    "projection.dt.format": "yyyy-MM-dd",
                    "projection.dt.range": "2024-01-01,NOW",
                    "projection.dt.interval": "1",
                    "projection.dt.interval.unit": "DAYS",
                    "projection.hour.type": "integer",
                    "projection.hour.range": "0,23",
                    "projection.hour.digits": "2",
                    "storage.location.template": f"{location}dt=${{dt}}/hour=${{hour}}/",
                },
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    location=location,
                    columns=[glue.CfnTable.ColumnProperty(name=n, type=t) for n, t in COLUMNS],
                    input_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                    output_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library="org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
                    ),
                ),
            ),
        )
        self.table.node.add_dependency(db)

        self.delivery = self._delivery_stream(base, p, prefix, database)
        self._athena(base, prefix, database)

    def _delivery_stream(
        self, base: Foundation, p: Parameters, prefix: str, database: str
    ) -> firehose.CfnDeliveryStream:
        stack = Stack.of(self)
        log_group = logs.LogGroup(self, "FirehoseLogs", retention=LOG_RETENTION)
        log_stream = logs.LogStream(self, "FirehoseDelivery", log_group=log_group)
        role = iam.Role(self, "FirehoseRole", assumed_by=iam.ServicePrincipal("firehose.amazonaws.com"))
        base.changes.grant_read(role)
        role.add_to_policy(iam.PolicyStatement(actions=["kinesis:DescribeStream"], resources=[base.changes.stream_arn]))
        self.transform.grant_invoke(role)
        role.add_to_policy(
            iam.PolicyStatement(actions=["lambda:GetFunctionConfiguration"], resources=[self.transform.function_arn])
        )
        base.bucket.grant_read_write(role, "lake/*")
        base.bucket.grant_read(role)  # GetBucketLocation / ListBucket on the bucket itself
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"],
                resources=[
                    stack.format_arn(service="glue", resource="catalog"),
                    stack.format_arn(service="glue", resource="database", resource_name=database),
                    stack.format_arn(service="glue", resource="table", resource_name=f"{database}/{TABLE_NAME}"),
                ],
            )
        )
        log_group.grant_write(role)

        cfn = firehose.CfnDeliveryStream
        stream = cfn(
            self,
            "Delivery",
            delivery_stream_name=f"{prefix}-order-changes",
            delivery_stream_type="KinesisStreamAsSource",
            kinesis_stream_source_configuration=cfn.KinesisStreamSourceConfigurationProperty(
                kinesis_stream_arn=base.changes.stream_arn, role_arn=role.role_arn
            ),
            extended_s3_destination_configuration=cfn.ExtendedS3DestinationConfigurationProperty(
                bucket_arn=base.bucket.bucket_arn,
                role_arn=role.role_arn,
                prefix=f"{LAKE_PREFIX}dt=!{{partitionKeyFromLambda:dt}}/hour=!{{partitionKeyFromLambda:hour}}/",
                error_output_prefix="lake/errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/",
                buffering_hints=cfn.BufferingHintsProperty(
                    size_in_m_bs=64, interval_in_seconds=p.firehose_buffer_seconds.value_as_number
                ),
                encryption_configuration=cfn.EncryptionConfigurationProperty(
                    kms_encryption_config=cfn.KMSEncryptionConfigProperty(awskms_key_arn=base.key.key_arn)
                ),
                cloud_watch_logging_options=cfn.CloudWatchLoggingOptionsProperty(
                    enabled=True, log_group_name=log_group.log_group_name, log_stream_name=log_stream.log_stream_name
                ),
                dynamic_partitioning_configuration=cfn.DynamicPartitioningConfigurationProperty(
                    enabled=True, retry_options=cfn.RetryOptionsProperty(duration_in_seconds=300)
                ),
                processing_configuration=cfn.ProcessingConfigurationProperty(
                    enabled=True,
                    processors=[
                        cfn.ProcessorProperty(
                            type="Lambda",
                            parameters=[
                                cfn.ProcessorParameterProperty(
                                    parameter_name="LambdaArn", parameter_value=self.transform.function_arn
                                ),
                                cfn.ProcessorParameterProperty(parameter_name="BufferSizeInMBs", parameter_value="1"),
                                cfn.ProcessorParameterProperty(
                                    parameter_name="BufferIntervalInSeconds", parameter_value="60"
                                ),
                                cfn.ProcessorParameterProperty(parameter_name="NumberOfRetries", parameter_value="3"),
                            ],
                        )
                    ],
                ),
                data_format_conversion_configuration=cfn.DataFormatConversionConfigurationProperty(
                    enabled=True,
                    input_format_configuration=cfn.InputFormatConfigurationProperty(
                        deserializer=cfn.DeserializerProperty(
                            open_x_json_ser_de=cfn.OpenXJsonSerDeProperty(case_insensitive=True)
                        )
                    ),
                    output_format_configuration=cfn.OutputFormatConfigurationProperty(
                        serializer=cfn.SerializerProperty(parquet_ser_de=cfn.ParquetSerDeProperty(compression="SNAPPY"))
                    ),
                    schema_configuration=cfn.SchemaConfigurationProperty(
                        catalog_id=Aws.ACCOUNT_ID,
                        database_name=database,
                        table_name=TABLE_NAME,
                        region=Aws.REGION,
                        role_arn=role.role_arn,
                        version_id="LATEST",
                    ),
                ),
            ),
        )
        stream.node.add_dependency(self.table)
        policy = role.node.try_find_child("DefaultPolicy")
        if policy is not None:
            stream.node.add_dependency(policy)
        return stream

    def _athena(self, base: Foundation, prefix: str, database: str) -> None:
        workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=prefix,
            description="salesflow: SQL over the lake",
            state="ENABLED",
            recursive_delete_option=False,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=10 * 1024**3,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{base.bucket.bucket_name}/athena-results/",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=base.key.key_arn
                    ),
                ),
            ),
        )
        table = f'"{database}"."{TABLE_NAME}"'
        for ident, name, sql in (
            ("UnitsToday", "units-per-product-today", UNITS_TODAY),
            ("UnitsCurrent", "units-per-product", UNITS_CURRENT),
        ):
            query = athena.CfnNamedQuery(
                self,
                ident,
                name=name,
                database=database,
                work_group=workgroup.ref,
                description="salesflow: units sold per product",
                query_string=sql.format(table=table),
            )
            query.node.add_dependency(workgroup)
