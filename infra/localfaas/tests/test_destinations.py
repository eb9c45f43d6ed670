"""On-failure destinations deliver a failed-record document to SQS, SNS, S3 or a Kafka topic."""

from __future__ import annotations

import json
import re

import boto3
import pytest
from moto import mock_aws

from localfaas.destinations import (
    RETRIES_EXHAUSTED,
    DestinationError,
    Destinations,
    Failure,
    boto3_clients,
    failed_batch_record,
    parse_destination,
    s3_object_key,
)
from localfaas.kafka_event import kafka_event
from localfaas.log import LogRecord
from localfaas.runtime import InvocationResult

REGION = "us-east-1"
ACCOUNT = "123456789012"
DOC = {"requestContext": {"condition": "RetryAttemptsExhausted"}, "version": "1.0"}


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


class _Log:
    """Just enough of the log port for a producer: topics() and produce()."""

    def __init__(self, *topics: str) -> None:
        self.produced: dict[str, list[tuple[bytes | None, bytes | None]]] = {t: [] for t in topics}

    def topics(self) -> list[str]:
        return list(self.produced)

    def produce(self, topic, value, key=None, headers=(), timestamp_ms=None, partition=None):
        self.produced[topic].append((key, value))


def test_sqs_destination_receives_the_document_as_message_body(aws):
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="dlq")["QueueUrl"]

    Destinations(boto3_clients()).send(f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq", DOC)

    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"]) for m in messages] == [DOC]


def test_sns_destination_publishes_the_document(aws):
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic_arn = sns.create_topic(Name="failures")["TopicArn"]
    url = sqs.create_queue(QueueName="tap")["QueueUrl"]
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=f"arn:aws:sqs:{REGION}:{ACCOUNT}:tap",
        Attributes={"RawMessageDelivery": "true"},
    )

    Destinations(boto3_clients()).send(topic_arn, DOC)

    body = sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"]
    assert json.loads(body) == DOC


def test_s3_destination_puts_the_document_under_the_given_key(aws):
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="failed-batches")
    key = s3_object_key("esm-uuid", "orders-0", 1_700_000_000.0)

    Destinations(boto3_clients()).send("arn:aws:s3:::failed-batches", DOC, object_key=key)

    stored = s3.get_object(Bucket="failed-batches", Key=key)["Body"].read()
    assert json.loads(stored) == DOC


def test_s3_object_key_follows_the_documented_layout():
    key = s3_object_key("f89f8514-cdd9-4602-9e1f-01a5b77d449b", "orders-3", 1_700_000_000.0)

    pattern = (
        r"aws/lambda/f89f8514-cdd9-4602-9e1f-01a5b77d449b/orders-3/2023/11/14/"
        r"2023-11-14T22\.13\.20-[0-9a-f-]{36}"
    )
    assert re.fullmatch(pattern, key)


def test_kafka_destination_produces_with_the_original_key():
    log = _Log("orders-dlt")

    Destinations(boto3_clients(), log=log).send("kafka://orders-dlt", DOC, key=b"customer-7")

    [(key, value)] = log.produced["orders-dlt"]
    assert key == b"customer-7"
    assert json.loads(value) == DOC


def test_kafka_destination_topic_must_exist():
    with pytest.raises(DestinationError, match="does not exist"):
        Destinations(boto3_clients(), log=_Log()).send("kafka://missing", DOC)


def test_delivery_failure_is_reported_as_destination_error(aws):
    with pytest.raises(DestinationError, match="dlq-that-was-never-created"):
        Destinations(boto3_clients()).send(f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq-that-was-never-created", DOC)


def test_clients_are_made_once_per_service_and_region(aws):
    made = []

    def factory(service, region):
        made.append((service, region))
        return boto3.client(service, region_name=region)

    boto3.client("sqs", region_name=REGION).create_queue(QueueName="dlq")
    destinations = Destinations(factory)
    for _ in range(3):
        destinations.send(f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq", DOC)

    assert made == [("sqs", REGION)]


def test_parse_destination_rejects_other_services():
    with pytest.raises(ValueError, match="not an SQS queue"):
        parse_destination("arn:aws:lambda:us-east-1:123456789012:function:f")


def test_a_batch_record_of_self_managed_kafka_names_no_event_source_arn():
    records = [LogRecord("payments", 2, offset, 1_700_000_000_000 + offset, None, b"v") for offset in (7, 8)]
    event = kafka_event(records, source="self-managed", bootstrap_servers="b1:9092")
    failure = Failure(
        RETRIES_EXHAUSTED, "arn:aws:lambda:us-east-1:123456789012:function:f", 1, None, 1_700_000_000.0
    )

    document = failed_batch_record(failure, records, event, with_payload=False)

    info = document["KafkaBatchInfo"]
    assert "eventSourceArn" not in info
    assert info["bootstrapServers"] == "b1:9092"
    assert info["recordsInfo"]["payments-2"]["lastRecordOffset"] == "8"
    assert info["recordsInfo"]["payments-2"]["lastRecordTimestamp"] == "2023-11-14T22:13:20.008Z"


def test_records_never_invoked_have_a_null_response_context():
    failure = Failure(RETRIES_EXHAUSTED, "arn", 0, None, 0.0)

    assert failure.context()["responseContext"] is None


def test_a_partial_batch_failure_has_no_function_error():
    result = InvocationResult("f", "req-1", payload={"batchItemFailures": []})

    assert Failure(RETRIES_EXHAUSTED, "arn", 1, result, 0.0).context()["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
    }
