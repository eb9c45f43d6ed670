"""The event Lambda sends for messages it received from an Amazon SQS queue.

Built from ReceiveMessage's answer (all system attributes, all message attributes) in the shape of
"Example standard queue message event" and "Example FIFO queue message event" ("Using Lambda with
Amazon SQS", https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html), which Powertools' parser
models (SqsRecordModel) and batch utility read:

    {"Records": [{"messageId", "receiptHandle", "body",
                  "attributes": {"ApproximateReceiveCount", "SentTimestamp", "SenderId",
                                 "ApproximateFirstReceiveTimestamp", and on a FIFO queue
                                 "SequenceNumber", "MessageGroupId", "MessageDeduplicationId"},
                  "messageAttributes": {name: {"stringValue" | "binaryValue", "stringListValues": [],
                                               "binaryListValues": [], "dataType"}},
                  "md5OfMessageAttributes" (only with message attributes), "md5OfBody",
                  "eventSource": "aws:sqs", "eventSourceARN", "awsRegion"}]}

SAM CLI's sample (`sam local generate-event sqs receive-message`) has the same keys in the same order.
Attribute values are text, as SQS returns them; binary message attributes are base64, as the SDKs'
JSON shows them.

The function's answer, with ReportBatchItemFailures: ``{"batchItemFailures": [{"itemIdentifier":
"<messageId>"}]}`` (`reported_failures`), read as "Handling errors for an SQS event source in Lambda"
(https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html) says.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["RECEIVE_REQUEST", "reported_failures", "sqs_event", "sqs_record"]

# What the event carries is what Lambda asks ReceiveMessage for: every system and message attribute.
RECEIVE_REQUEST: Mapping[str, Any] = {
    "MessageSystemAttributeNames": ["All"],
    "MessageAttributeNames": ["All"],
}

# The order of AWS's sample events; any other attribute SQS returns (AWSTraceHeader,
# DeadLetterQueueSourceArn) follows them.
_ATTRIBUTE_ORDER = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "SenderId",
    "MessageDeduplicationId",
    "ApproximateFirstReceiveTimestamp",
)


def sqs_record(message: Mapping[str, Any], *, queue_arn: str, region: str) -> dict[str, Any]:
    """One record of the event's `Records`, from one message of ReceiveMessage's answer."""
    attributes = dict(message.get("Attributes") or {})
    ordered = {name: str(attributes.pop(name)) for name in _ATTRIBUTE_ORDER if name in attributes}
    ordered.update({name: str(value) for name, value in sorted(attributes.items())})
    message_attributes = {
        name: _message_attribute(value) for name, value in (message.get("MessageAttributes") or {}).items()
    }
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": ordered,
        "messageAttributes": message_attributes,
    }
    if message_attributes and message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record.update(
        {
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": region,
        }
    )
    return record


def sqs_event(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {"Records": list(records)}


def _message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    attribute: dict[str, Any] = {}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = _base64(value["BinaryValue"])
    attribute["stringListValues"] = list(value.get("StringListValues") or [])
    attribute["binaryListValues"] = [_base64(v) for v in value.get("BinaryListValues") or []]
    attribute["dataType"] = value.get("DataType", "String")
    return attribute


def _base64(value: bytes | str) -> str:
    return base64.b64encode(value if isinstance(value, bytes) else value.encode()).decode()


def reported_failures(payload: Any, batch_ids: set[str]) -> set[str] | None:
    """The messageIds a partial batch response names; None when AWS counts it a complete failure."""
    if isinstance(payload, bytes | str):
        try:
            payload = json.loads(payload)
        except ValueError:
            return None  # "An invalid JSON response"
    if not isinstance(payload, Mapping) or payload.get("batchItemFailures") is None:
        return set()  # a null or empty response, or a null list: complete success
    failures = payload["batchItemFailures"]
    if not isinstance(failures, list):
        return None
    reported = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not isinstance(identifier, str) or identifier not in batch_ids:
            return None  # empty, null, a bad key name, or "a message ID that doesn't exist"
        reported.add(identifier)
    return reported
