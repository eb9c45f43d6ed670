"""The event Lambda sends for SQS messages (localfaas.sqs_event), from ReceiveMessage's answer, against
AWS's sample events ("Using Lambda with Amazon SQS") and SAM CLI's (`sam local generate-event sqs
receive-message`, samcli/lib/generated_sample_events/events/sqs/Sqs.json)."""

from __future__ import annotations

import pytest

from localfaas.sqs_event import reported_failures, sqs_event, sqs_record

ARN = "arn:aws:sqs:us-east-2:123456789012:my-queue"


def message(**extra) -> dict:
    return {
        "MessageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "ReceiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
        "MD5OfBody": "098f6bcd4621d373cade4e832627b4f6",
        "Body": "test",
        "Attributes": {
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1545082649185",
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1545082649183",
        },
        **extra,
    }


def test_a_standard_queue_record_has_the_keys_of_aws_s_and_sam_cli_s_samples_in_their_order():
    record = sqs_record(message(), queue_arn=ARN, region="us-east-2")
    assert list(record) == [
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    ]
    assert list(record["attributes"]) == [
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    ]
    assert (record["eventSource"], record["eventSourceARN"], record["messageAttributes"]) == (
        "aws:sqs",
        ARN,
        {},
    )
    assert sqs_event([record]) == {"Records": [record]}


def test_a_fifo_record_carries_its_group_sequence_and_deduplication_ids_in_aws_s_order():
    fifo = message()
    fifo["Attributes"] |= {
        "SequenceNumber": "18849496460467696128",
        "MessageGroupId": "1",
        "MessageDeduplicationId": "1",
    }
    record = sqs_record(fifo, queue_arn=ARN + ".fifo", region="us-east-2")
    assert list(record["attributes"]) == [
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SequenceNumber",
        "MessageGroupId",
        "SenderId",
        "MessageDeduplicationId",
        "ApproximateFirstReceiveTimestamp",
    ]


def test_message_attributes_are_in_lambda_s_lower_camel_case_and_binary_values_in_base64():
    attributes = {
        "myAttribute": {"StringValue": "myValue", "DataType": "String"},
        "blob": {"BinaryValue": b"\x00\x01", "DataType": "Binary"},
    }
    record = sqs_record(
        message(MessageAttributes=attributes, MD5OfMessageAttributes="abc"), queue_arn=ARN, region="us-east-2"
    )
    assert record["messageAttributes"] == {
        "myAttribute": {
            "stringValue": "myValue",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        },
        "blob": {"binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
    }
    assert record["md5OfMessageAttributes"] == "abc"
    assert "md5OfMessageAttributes" not in sqs_record(message(), queue_arn=ARN, region="us-east-2")


@pytest.mark.parametrize(
    ("response", "reported"),
    [
        (None, set()),  # a null EventResponse: complete success
        ({}, set()),
        ({"batchItemFailures": None}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "m2"}]}, {"m2"}),
        ('{"batchItemFailures": [{"itemIdentifier": "m1"}]}', {"m1"}),  # the answer as JSON text
        ("not json", None),  # complete failure from here on
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, None),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, None),
        ({"batchItemFailures": [{"itemIdentifer": "m1"}]}, None),
        ({"batchItemFailures": [{"itemIdentifier": "m9"}]}, None),
        ({"batchItemFailures": "m1"}, None),
    ],
)
def test_a_partial_batch_response_is_read_as_aws_documents_its_success_and_failure_conditions(
    response, reported
):
    assert reported_failures(response, {"m1", "m2"}) == reported
