"""The `classic` orders state machine, written as plain ASL so that moto can run it.

It keeps the original design for small `.json` documents: read the object, parse it in the state
machine, then an inline Map (MaxConcurrency 35) calls the `classic_record` Lambda once per order and
writes each valid order with one DynamoDB PutItem (retried 3 times). Refused records, records whose
validation call failed and records whose write failed all go to the SQS dead-letter queue with
their reasons (a Catch on each task). Nothing here is CDK: the stack passes the definition with
`DefinitionSubstitutions`, and tests/deploy/test_classic_moto.py renders the same text for moto.

Reply contract of `salesflow.aws.handlers.classic_record.handler`, for the payload
``{"record": <as it came>, "position": <0-based index>, "key": <object key>, "execution": <id>}``:
``{"valid": true, "item": <the order as a DynamoDB typed item>}`` or
``{"valid": false, "reasons": ["missing_contact_info", ...]}``.
"""

from __future__ import annotations

import json
from typing import Any

# Placeholders filled in by CloudFormation (DefinitionSubstitutions) or by a test.
VALIDATE_FUNCTION_ARN = "ValidateFunctionArn"
ORDERS_TABLE_NAME = "OrdersTableName"
DEAD_LETTER_QUEUE_URL = "DeadLetterQueueUrl"
PLACEHOLDERS = (VALIDATE_FUNCTION_ARN, ORDERS_TABLE_NAME, DEAD_LETTER_QUEUE_URL)

MAX_CONCURRENCY = 35  # the original design's figure; see docs/aws.md for what it buys
PUT_ITEM_MAX_ATTEMPTS = 3
VALIDATE_STATE = "ValidateRecord"

_LAMBDA_TRANSIENT = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]


def _ref(name: str) -> str:
    return "${" + name + "}"


def _retry(errors: list[str], attempts: int) -> list[dict[str, Any]]:
    return [
        {
            "ErrorEquals": errors,
            "IntervalSeconds": 1,
            "MaxAttempts": attempts,
            "BackoffRate": 2.0,
            "MaxDelaySeconds": 10,
            "JitterStrategy": "FULL",
        }
    ]


def _letter(reasons: dict[str, Any], error: dict[str, Any]) -> dict[str, Any]:
    """A Pass state shaping every dead-letter path into one message body."""
    return {
        "Type": "Pass",
        "Parameters": {
            "key.$": "$.key",
            "position.$": "$.position",
            "execution.$": "$.execution",
            "record.$": "$.record",
            **reasons,
            **error,
        },
        "Next": "SendToDeadLetters",
    }


def _record_states() -> dict[str, Any]:
    return {
        VALIDATE_STATE: {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": _ref(VALIDATE_FUNCTION_ARN), "Payload.$": "$"},
            "ResultSelector": {"reply.$": "$.Payload"},
            "ResultPath": "$.validation",
            "Retry": _retry(_LAMBDA_TRANSIENT, 3),
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "ValidationFailed"}],
            "Next": "IsValid",
        },
        "IsValid": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.validation.reply.valid", "BooleanEquals": True, "Next": "PutOrder"}],
            "Default": "Refused",
        },
        "PutOrder": {
            "Type": "Task",
            "Resource": "arn:aws:states:::dynamodb:putItem",
            "Parameters": {"TableName": _ref(ORDERS_TABLE_NAME), "Item.$": "$.validation.reply.item"},
            "ResultPath": None,
            "Retry": _retry(["States.ALL"], PUT_ITEM_MAX_ATTEMPTS),
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "WriteFailed"}],
            "End": True,
        },
        "Refused": _letter({"reasons.$": "$.validation.reply.reasons"}, {"error": None}),
        "ValidationFailed": _letter({"reasons": ["validation_failed"]}, {"error.$": "$.error"}),
        "WriteFailed": _letter({"reasons": ["write_failed"]}, {"error.$": "$.error"}),
        "SendToDeadLetters": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sqs:sendMessage",
            "Parameters": {
                "QueueUrl": _ref(DEAD_LETTER_QUEUE_URL),
                "MessageBody.$": "$",
                "MessageAttributes": {
                    "reasons": {"DataType": "String", "StringValue.$": "States.JsonToString($.reasons)"},
                    "key": {"DataType": "String", "StringValue.$": "$.key"},
                },
            },
            "ResultPath": None,
            "Retry": _retry(["States.ALL"], 3),
            "End": True,
        },
    }


def classic_definition() -> dict[str, Any]:
    """The classic machine's ASL, with `${...}` placeholders for the function, table and queue."""
    pick = {"detail.$": "$.detail"}
    return {
        "Comment": "salesflow orders, classic: one Lambda call and one PutItem per order (small .json files)",
        "StartAt": "ReadObject",
        "States": {
            "ReadObject": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                "Parameters": {"Bucket.$": "$.detail.bucket.name", "Key.$": "$.detail.object.key"},
                "ResultSelector": {"document.$": "States.StringToJson($.Body)"},
                "ResultPath": "$.file",
                "Retry": _retry(["S3.SdkClientException", "S3.S3Exception"], 3),
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "DocumentUnreadable"}],
                "Next": "WhichShape",
            },
            "WhichShape": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.file.document.orders", "IsPresent": True, "Next": "OrdersArray"}],
                "Default": "BareArray",
            },
            "OrdersArray": {
                "Type": "Pass",
                "Parameters": {**pick, "items.$": "$.file.document.orders"},
                "Next": "ForEachOrder",
            },
            "BareArray": {"Type": "Pass", "Parameters": {**pick, "items.$": "$.file.document"}, "Next": "ForEachOrder"},
            "ForEachOrder": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemSelector": {
                    "record.$": "$$.Map.Item.Value",
                    "position.$": "$$.Map.Item.Index",
                    "key.$": "$.detail.object.key",
                    "execution.$": "$$.Execution.Id",
                },
                "MaxConcurrency": MAX_CONCURRENCY,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": VALIDATE_STATE,
                    "States": _record_states(),
                },
                "ResultPath": None,
                "OutputPath": "$.detail.object",
                "End": True,
            },
            "DocumentUnreadable": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage",
                "Parameters": {
                    "QueueUrl": _ref(DEAD_LETTER_QUEUE_URL),
                    "MessageBody": {
                        "key.$": "$.detail.object.key",
                        "reasons": ["malformed_json"],
                        "error.$": "$.error",
                    },
                    "MessageAttributes": {
                        "reasons": {"DataType": "String", "StringValue": '["malformed_json"]'},
                        "key": {"DataType": "String", "StringValue.$": "$.detail.object.key"},
                    },
                },
                "ResultPath": None,
                "Retry": _retry(["States.ALL"], 3),
                "Next": "DocumentFailed",
            },
            "DocumentFailed": {
                "Type": "Fail",
                "Error": "DocumentUnreadable",
                "Cause": "The object is not a JSON document of orders; its key and error are in the dead-letter queue.",
            },
        },
    }


def classic_definition_json() -> str:
    """The definition as CloudFormation receives it (placeholders unresolved)."""
    return json.dumps(classic_definition(), indent=1)


def render(definition: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    """Fill the `${...}` placeholders, as CloudFormation's DefinitionSubstitutions does."""
    text = json.dumps(definition)
    for name in PLACEHOLDERS:
        text = text.replace(_ref(name), values[name])
    return dict(json.loads(text))


def stub_lambda(definition: dict[str, Any]) -> dict[str, Any]:
    """Replace the Lambda task by a Pass state acting as a Lambda that returns its `record` unchanged.

    moto cannot invoke Lambda without Docker, so tests feed records that already are the handler's
    replies. The rule is mechanical: the task's `ResultSelector` `{"reply.$": "$.Payload"}` becomes
    `Parameters` `{"reply.$": "$.record"}`; `ResultPath` and `Next` stay; `Retry`/`Catch` go (a Pass
    state cannot fail). Everything else in the definition is untouched.
    """
    out = json.loads(json.dumps(definition))
    states = out["States"]["ForEachOrder"]["ItemProcessor"]["States"]
    task = states[VALIDATE_STATE]
    if task["Resource"] != "arn:aws:states:::lambda:invoke" or task["ResultSelector"] != {"reply.$": "$.Payload"}:
        raise ValueError("the classic ValidateRecord task changed shape; update stub_lambda with it")
    states[VALIDATE_STATE] = {
        "Type": "Pass",
        "Parameters": {"reply.$": "$.record"},
        "ResultPath": task["ResultPath"],
        "Next": task["Next"],
    }
    return dict(out)


def stub_read(definition: dict[str, Any], document: Any) -> dict[str, Any]:
    """Replace the S3 read by a Pass state whose result is `document`, as if parsed from the object.

    moto's `aws-sdk:s3:getObject` hands the state machine a stream object where AWS hands it the
    body as a string, so `States.StringToJson($.Body)` cannot run there. The rule is mechanical:
    the task becomes a Pass with `Result` `{"document": <document>}`; `ResultPath` and `Next` stay.
    """
    out = json.loads(json.dumps(definition))
    task = out["States"]["ReadObject"]
    if task["Resource"] != "arn:aws:states:::aws-sdk:s3:getObject":
        raise ValueError("the classic ReadObject task changed shape; update stub_read with it")
    out["States"]["ReadObject"] = {
        "Type": "Pass",
        "Result": {"document": document},
        "ResultPath": task["ResultPath"],
        "Next": task["Next"],
    }
    return dict(out)
