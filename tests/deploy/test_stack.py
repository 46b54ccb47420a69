"""The synthesised stack keeps its promises: checked on properties, not on resource counts."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Match, Template

from .asl import definition, states


def one(template: Template, kind: str, props: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    found = template.find_resources(kind, {"Properties": props} if props else None)
    assert len(found) == 1, f"{kind}: {sorted(found)}"
    return next(iter(found.items()))


def machine(template: Template, fragment: str) -> dict[str, Any]:
    found = {k: v for k, v in template.find_resources("AWS::StepFunctions::StateMachine").items() if fragment in k}
    assert len(found) == 1, sorted(found)
    return definition(next(iter(found.values())))


def policies_of(template: Template, role_fragment: str) -> list[dict[str, Any]]:
    """Every statement of the inline policies attached to the role whose id contains the fragment."""
    out: list[dict[str, Any]] = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        roles = json.dumps(policy["Properties"]["Roles"])
        if role_fragment in roles:
            out.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    assert out, role_fragment
    return out


def actions(statements: list[dict[str, Any]]) -> set[str]:
    acts: set[str] = set()
    for s in statements:
        a = s["Action"]
        acts.update([a] if isinstance(a, str) else a)
    return acts


# -- encryption, public access, TLS -------------------------------------------------------------


def test_bucket_is_encrypted_private_and_tls_only(template: Template) -> None:
    _, bucket = one(template, "AWS::S3::Bucket")
    props = bucket["Properties"]
    rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert "KMSMasterKeyID" in rule["ServerSideEncryptionByDefault"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "s3:*",
                                "Principal": {"AWS": "*"},
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_key_rotates(template: Template) -> None:
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_tables_are_encrypted_with_the_key_and_recoverable(template: Template) -> None:
    tables = template.find_resources("AWS::DynamoDB::Table")
    assert len(tables) == 3
    for table in tables.values():
        props = table["Properties"]
        assert props["SSESpecification"]["SSEEnabled"] is True
        assert props["SSESpecification"]["SSEType"] == "KMS"
        assert "KMSMasterKeyId" in props["SSESpecification"]
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert table["DeletionPolicy"] == "Retain"


def test_kpi_tables_have_the_original_keys(template: Template) -> None:
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "TableName": {"Ref": "CategoryKpiTableName"},
            "KeySchema": [
                {"AttributeName": "category", "KeyType": "HASH"},
                {"AttributeName": "order_date", "KeyType": "RANGE"},
            ],
        },
    )
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {"TableName": {"Ref": "OrderKpiTableName"}, "KeySchema": [{"AttributeName": "order_date", "KeyType": "HASH"}]},
    )


def test_orders_table_streams_into_kinesis(template: Template) -> None:
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "TableName": {"Ref": "OrdersTableName"},
            "KeySchema": [{"AttributeName": "order_id", "KeyType": "HASH"}],
            "KinesisStreamSpecification": {"StreamArn": Match.any_value()},
        },
    )
    template.has_resource_properties(
        "AWS::Kinesis::Stream",
        {"StreamEncryption": {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}},
    )


def test_queues_and_topic_are_encrypted(template: Template) -> None:
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "QueueName": {"Ref": "DeadLetterQueueName"},
            "KmsMasterKeyId": Match.any_value(),
            "MessageRetentionPeriod": 1209600,
        },
    )
    for queue in template.find_resources("AWS::SQS::Queue").values():
        props = queue["Properties"]
        assert "KmsMasterKeyId" in props or props.get("SqsManagedSseEnabled") is True
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    for policy in template.find_resources("AWS::SQS::QueuePolicy").values():
        denies = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert denies
        assert denies[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_every_log_group_has_a_retention(template: Template) -> None:
    groups = template.find_resources("AWS::Logs::LogGroup")
    assert len(groups) >= 10
    for group in groups.values():
        assert group["Properties"]["RetentionInDays"] == 30
    for fn in template.find_resources("AWS::Lambda::Function").values():
        assert "LogGroup" in fn["Properties"]["LoggingConfig"]


# -- IAM: least privilege ----------------------------------------------------------------------


def test_validate_batch_writes_orders_and_dead_letters_but_cannot_touch_the_bucket(template: Template) -> None:
    statements = policies_of(template, "FunctionsValidateBatch")
    acts = actions(statements)
    assert {"dynamodb:BatchWriteItem", "dynamodb:PutItem", "sqs:SendMessage"} <= acts
    assert not any(a.startswith("s3:") for a in acts)
    assert not any(a in {"dynamodb:DeleteTable", "dynamodb:DeleteItem", "dynamodb:*", "*"} for a in acts)
    for s in statements:
        assert s["Resource"] != "*", s


def test_no_statement_grants_every_action(template: Template) -> None:
    for policy in template.find_resources("AWS::IAM::Policy").values():
        for s in policy["Properties"]["PolicyDocument"]["Statement"]:
            acts = [s["Action"]] if isinstance(s["Action"], str) else s["Action"]
            assert "*" not in acts
            assert not any(a.endswith(":*") for a in acts), s


def test_classic_machine_role_is_narrow(template: Template) -> None:
    acts = actions(policies_of(template, "OrdersClassicRole"))
    assert {"lambda:InvokeFunction", "dynamodb:PutItem", "sqs:SendMessage"} <= acts
    assert not {"s3:DeleteObject*", "s3:PutObject", "dynamodb:DeleteItem", "dynamodb:Scan"} & acts


def test_firehose_role_reads_the_stream_and_writes_only_the_lake(template: Template) -> None:
    statements = policies_of(template, "StreamFirehoseRole")
    writes = [s for s in statements if "s3:PutObject" in actions([s])]
    assert writes
    for s in writes:
        resources = json.dumps(s["Resource"])
        assert "/lake/*" in resources, s
    assert {"kinesis:GetRecords", "lambda:InvokeFunction", "glue:GetTable"} <= actions(statements)


# -- orders: scalable --------------------------------------------------------------------------


def test_distributed_map_reads_batches_and_tolerates(template: Template) -> None:
    every = states(machine(template, "OrdersScalable"))
    each = every["ForEachBatch"]
    assert each["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}
    assert each["ItemReader"]["Resource"].endswith(":states:::s3:getObject")
    assert each["ItemReader"]["ReaderConfig"]["InputType"] == "JSONL"
    assert each["ItemReader"]["Parameters"]["Key.$"] == "$.lines.key"
    assert each["ItemBatcher"]["MaxItemsPerBatch"] == "__REF_ItemsPerBatch__"
    assert each["ItemBatcher"]["MaxInputBytesPerBatch"] == "__REF_BytesPerBatch__"
    assert each["MaxConcurrency"] == "__REF_MaxConcurrency__"
    assert each["ToleratedFailurePercentagePath"] == "$.source.toleratedFailurePercentage"
    assert every["Source"]["Parameters"]["toleratedFailurePercentage"] == "__REF_ToleratedFailurePercentage__"
    assert each["ItemSelector"] == {"position.$": "$$.Map.Item.Index", "record.$": "$$.Map.Item.Value"}
    assert "ResultWriter" in each  # results go to S3, never into the 256 KB state
    assert each["Catch"][0]["Next"] == "RunToDeadLetters"


def test_batches_retry_with_full_jitter_then_go_to_the_queue(template: Template) -> None:
    every = states(machine(template, "OrdersScalable"))
    validate = every["ValidateBatch"]
    assert validate["Resource"].endswith(":states:::lambda:invoke")
    retry = validate["Retry"][0]
    assert retry["JitterStrategy"] == "FULL"
    assert retry["BackoffRate"] == 2
    assert retry["MaxAttempts"] == 6
    assert "Lambda.TooManyRequestsException" in retry["ErrorEquals"]
    assert validate["Catch"][0]["Next"] == "BatchToDeadLetters"
    send = every["BatchToDeadLetters"]
    assert send["Resource"].endswith(":states:::sqs:sendMessage")
    assert send["Parameters"]["MessageBody"]["reasons"] == ["batch_failed"]
    assert send["Parameters"]["MessageBody"]["items.$"] == "$.Items"


def test_documents_are_split_and_lines_read_natively(template: Template) -> None:
    every = states(machine(template, "OrdersScalable"))
    choice = every["LinesOrDocument"]
    patterns = json.dumps(choice["Choices"])
    assert "*.jsonl" in patterns
    assert "*.ndjson" in patterns
    assert choice["Default"] == "SplitDocument"
    assert every["SplitDocument"]["Next"] == "ForEachBatch"
    assert every["AlreadyLines"]["Next"] == "ForEachBatch"
    # split_document raises MalformedDocument once the object is in quarantine/: malformed_json, no retry.
    catches = every["SplitDocument"]["Catch"]
    assert [c["ErrorEquals"] for c in catches] == [["MalformedDocument"], ["States.ALL"]]
    assert catches[0]["Next"] == "DocumentToDeadLetters"
    assert every["DocumentToDeadLetters"]["Parameters"]["MessageBody"]["reasons"] == ["malformed_json"]
    assert every["DocumentToDeadLetters"]["Next"] == "RunFailed"
    assert all("MalformedDocument" not in r["ErrorEquals"] for r in every["SplitDocument"]["Retry"])


# -- orders: classic ---------------------------------------------------------------------------


def test_classic_map_keeps_the_original_shape(template: Template) -> None:
    every = states(machine(template, "OrdersClassic"))
    each = every["ForEachOrder"]
    assert each["MaxConcurrency"] == 35
    assert each["ItemProcessor"]["ProcessorConfig"] == {"Mode": "INLINE"}
    put = every["PutOrder"]
    assert put["Resource"] == "arn:aws:states:::dynamodb:putItem"
    assert put["Parameters"]["TableName"] == "${OrdersTableName}"
    assert put["Retry"][0]["MaxAttempts"] == 3
    assert put["Retry"][0]["JitterStrategy"] == "FULL"
    assert put["Catch"][0]["Next"] == "WriteFailed"
    assert every["ValidateRecord"]["Catch"][0]["Next"] == "ValidationFailed"
    for name in ("Refused", "ValidationFailed", "WriteFailed"):
        assert every[name]["Next"] == "SendToDeadLetters"
    assert every["SendToDeadLetters"]["Resource"] == "arn:aws:states:::sqs:sendMessage"
    _, resource = next(
        (k, v) for k, v in template.find_resources("AWS::StepFunctions::StateMachine").items() if "OrdersClassic" in k
    )
    subs = resource["Properties"]["DefinitionSubstitutions"]
    assert set(subs) == {"ValidateFunctionArn", "OrdersTableName", "DeadLetterQueueUrl"}


# -- routing -----------------------------------------------------------------------------------


def rule(template: Template, fragment: str) -> dict[str, Any]:
    found = [v for k, v in template.find_resources("AWS::Events::Rule").items() if fragment in k]
    assert len(found) == 1
    return dict(found[0]["Properties"])


def test_eventbridge_routes_each_object_to_one_machine(template: Template) -> None:
    classic = rule(template, "ClassicRule")["EventPattern"]
    assert classic["source"] == ["aws.s3"]
    assert classic["detail-type"] == ["Object Created"]
    assert classic["detail"]["object"] == {
        "key": [{"wildcard": "orders/*.json"}],
        "size": [{"numeric": ["<", {"Ref": "ClassicMaxObjectBytes"}]}],
    }
    scalable = rule(template, "ScalableRule")["EventPattern"]["detail"]["$or"]
    assert scalable[0]["object"]["size"] == [{"numeric": [">=", {"Ref": "ClassicMaxObjectBytes"}]}]
    assert {"wildcard": "orders/*.jsonl"} in scalable[1]["object"]["key"]
    for name in ("ClassicRule", "ScalableRule"):
        target = rule(template, name)["Targets"][0]
        assert "DeadLetterConfig" in target
        assert target["RetryPolicy"]["MaximumRetryAttempts"] == 8
    raw = rule(template, "RawDataRule")["EventPattern"]["detail"]["object"]
    assert raw == {"key": [{"prefix": "raw-data/"}]}


# -- batch -------------------------------------------------------------------------------------


def test_batch_runs_fargate_steps_and_always_cleans_up(template: Template) -> None:
    every = states(machine(template, "BatchMachine"))
    for step in ("validate", "transform", "publish", "archive"):
        state = every[step]
        assert state["Resource"].endswith(":states:::ecs:runTask.sync")
        assert state["Parameters"]["LaunchType"] == "FARGATE"
        overrides = state["Parameters"]["Overrides"]["ContainerOverrides"][0]
        assert overrides["Command"] == [step]
        assert state["Catch"][0]["Next"] == "NotifyFailure"
    assert every["NotifyFailure"]["Resource"].endswith(":states:::sns:publish")
    assert every["NotifyFailure"]["Next"] == "CleanupAfterFailure"
    assert every["CleanupAfterFailure"]["Next"] == "BatchFailed"
    assert every["BatchFailed"]["Type"] == "Fail"
    assert every["NotifySuccess"]["Next"] == "Cleanup"
    template.has_resource_properties(
        "AWS::ECS::TaskDefinition", {"RequiresCompatibilities": ["FARGATE"], "Cpu": "1024", "Memory": "4096"}
    )


def test_lambda_handlers_are_the_packaged_modules(template: Template) -> None:
    handlers = {f["Properties"]["Handler"] for f in template.find_resources("AWS::Lambda::Function").values()}
    assert handlers == {
        f"salesflow.aws.handlers.{m}.handler"
        for m in (
            "validate_batch",
            "split_document",
            "classic_record",
            "presence_check",
            "cleanup",
            "firehose_transform",
        )
    }
    for f in template.find_resources("AWS::Lambda::Function").values():
        assert f["Properties"]["Runtime"] == "python3.11"
        assert f["Properties"]["Architectures"] == ["arm64"]
        assert len(f["Properties"]["Layers"]) == 1


# -- stream ------------------------------------------------------------------------------------


def test_firehose_partitions_by_the_transform_and_writes_parquet(template: Template) -> None:
    _, stream = one(template, "AWS::KinesisFirehose::DeliveryStream")
    props = stream["Properties"]
    assert props["DeliveryStreamType"] == "KinesisStreamAsSource"
    dest = props["ExtendedS3DestinationConfiguration"]
    assert dest["Prefix"] == "lake/orders/dt=!{partitionKeyFromLambda:dt}/hour=!{partitionKeyFromLambda:hour}/"
    assert dest["DynamicPartitioningConfiguration"]["Enabled"] is True
    processor = dest["ProcessingConfiguration"]["Processors"][0]
    assert processor["Type"] == "Lambda"
    names = {p["ParameterName"] for p in processor["Parameters"]}
    assert "LambdaArn" in names
    conversion = dest["DataFormatConversionConfiguration"]
    assert conversion["Enabled"] is True
    assert "ParquetSerDe" in conversion["OutputFormatConfiguration"]["Serializer"]
    assert conversion["SchemaConfiguration"]["TableName"] == "order_changes"
    assert dest["BufferingHints"]["SizeInMBs"] >= 64  # dynamic partitioning's minimum
    assert "KMSEncryptionConfig" in dest["EncryptionConfiguration"]


def test_glue_table_projects_partitions(template: Template) -> None:
    _, table = one(template, "AWS::Glue::Table")
    inp = table["Properties"]["TableInput"]
    params = inp["Parameters"]
    assert params["projection.enabled"] == "true"
    assert params["projection.dt.type"] == "date"
    assert params["projection.hour.type"] == "integer"
    assert params["projection.hour.digits"] == "2"
    assert "dt=${dt}/hour=${hour}/" in json.dumps(params["storage.location.template"])
    assert [k["Name"] for k in inp["PartitionKeys"]] == ["dt", "hour"]
    columns = {c["Name"]: c["Type"] for c in inp["StorageDescriptor"]["Columns"]}
    assert columns["quantity"] == "bigint"
    assert columns["price"] == "decimal(38,10)"


def test_athena_saves_the_units_per_product_query(template: Template) -> None:
    template.has_resource_properties(
        "AWS::Athena::WorkGroup",
        {
            "WorkGroupConfiguration": Match.object_like(
                {
                    "EnforceWorkGroupConfiguration": True,
                    "ResultConfiguration": Match.object_like(
                        {"EncryptionConfiguration": Match.object_like({"EncryptionOption": "SSE_KMS"})}
                    ),
                }
            )
        },
    )
    queries = template.find_resources("AWS::Athena::NamedQuery")
    texts = [json.dumps(q["Properties"]["QueryString"]) for q in queries.values()]
    assert any("SUM(quantity)" in t and "GROUP BY product_name" in t for t in texts)


# -- alarms and parameters ---------------------------------------------------------------------


def alarm(template: Template, metric: str) -> list[dict[str, Any]]:
    found = template.find_resources("AWS::CloudWatch::Alarm", {"Properties": {"MetricName": metric}})
    assert found, metric
    return [a["Properties"] for a in found.values()]


def test_alarms_watch_what_matters(template: Template) -> None:
    (dlq,) = alarm(template, "ApproximateNumberOfMessagesVisible")
    assert dlq["Threshold"] == {"Ref": "DeadLetterDepthAlarm"}
    assert dlq["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    failed = alarm(template, "ExecutionsFailed")
    assert len(failed) == 3  # scalable, classic, batch
    assert all(a["Threshold"] == 1 and a["Statistic"] == "Sum" for a in failed)
    (age,) = alarm(template, "GetRecords.IteratorAgeMilliseconds")
    assert age["Threshold"] == {"Ref": "IteratorAgeAlarmMs"}
    (delivery,) = alarm(template, "DeliveryToS3.Success")
    assert delivery["ComparisonOperator"] == "LessThanThreshold"
    assert delivery["Threshold"] == 1
    assert alarm(template, "FailedConversion.Records")
    for props in template.find_resources("AWS::CloudWatch::Alarm").values():
        assert props["Properties"]["AlarmActions"], "every alarm notifies"


def test_parameters_have_safe_defaults(template: Template) -> None:
    params = template.to_json()["Parameters"]
    assert params["MaxConcurrency"]["Default"] == 100
    assert params["ItemsPerBatch"]["Default"] == 500
    assert params["BytesPerBatch"]["MaxValue"] == 262144
    assert params["ToleratedFailurePercentage"]["MaxValue"] == 100
    assert params["ClassicMaxObjectBytes"]["MaxValue"] <= 256 * 1024
    for name in ("OrdersTableName", "OrderKpiTableName", "CategoryKpiTableName", "DeadLetterQueueName", "NamePrefix"):
        assert params[name]["Type"] == "String"
