"""The Kafka event localfaas builds is the one Lambda sends: Powertools' models parse it and get the records back."""

from __future__ import annotations

import base64

import pytest
from aws_lambda_powertools.utilities.data_classes import KafkaEvent
from aws_lambda_powertools.utilities.parser.models import KafkaMskEventModel, KafkaSelfManagedEventModel

from localfaas.kafka_event import decode_headers, encode_headers, kafka_event
from localfaas.log import LOG_APPEND_TIME, LogRecord

ARN = "arn:aws:kafka:us-east-1:123456789012:cluster/demo/abcd1234-abcd-cafe-abab-9876543210ab-4"
BINARY = bytes([0, 1, 127, 128, 200, 255])


def _record(offset: int, *, partition: int = 0, topic: str = "orders", **fields) -> LogRecord:
    defaults = {"timestamp_ms": 1_700_000_000_000 + offset, "key": b"order-1", "value": b'{"n": %d}' % offset}
    return LogRecord(topic=topic, partition=partition, offset=offset, **{**defaults, **fields})


def test_headers_above_127_are_sent_as_negative_signed_bytes():
    assert encode_headers([("h", BINARY)]) == [{"h": [0, 1, 127, -128, -56, -1]}]


def test_headers_decode_back_to_the_same_bytes_in_order_with_repeats():
    headers = (("trace", b"abc"), ("bin", BINARY), ("trace", b""))
    assert decode_headers(encode_headers(headers)) == headers


def test_msk_event_has_the_documented_envelope():
    event = kafka_event(
        [_record(15)], source="msk", event_source_arn=ARN, bootstrap_servers=["b-1:9092", "b-2:9092"]
    )
    assert event["eventSource"] == "aws:kafka"
    assert event["eventSourceArn"] == ARN
    assert event["bootstrapServers"] == "b-1:9092,b-2:9092"
    assert list(event["records"]) == ["orders-0"]
    record = event["records"]["orders-0"][0]
    assert record == {
        "topic": "orders",
        "partition": 0,
        "offset": 15,
        "timestamp": 1_700_000_000_015,
        "timestampType": "CREATE_TIME",
        "key": base64.b64encode(b"order-1").decode(),
        "value": base64.b64encode(b'{"n": 15}').decode(),
        "headers": [],
    }


def test_self_managed_event_has_no_event_source_arn():
    event = kafka_event([_record(1)], source="self-managed", bootstrap_servers="broker:9092")
    assert event["eventSource"] == "SelfManagedKafka"
    assert "eventSourceArn" not in event


def test_records_are_grouped_by_topic_partition_keeping_their_order():
    records = [_record(5, partition=1), _record(9), _record(6, partition=1), _record(3, topic="payments")]
    event = kafka_event(records, source="msk", event_source_arn=ARN)
    assert {key: [r["offset"] for r in batch] for key, batch in event["records"].items()} == {
        "orders-1": [5, 6],
        "orders-0": [9],
        "payments-0": [3],
    }


def test_msk_event_parses_with_powertools_model_and_round_trips():
    records = [
        _record(1, headers=(("content-type", b"application/json"), ("bin", BINARY))),
        _record(2, partition=3, key=BINARY, timestamp_type=LOG_APPEND_TIME),
    ]
    parsed = KafkaMskEventModel.model_validate(kafka_event(records, source="msk", event_source_arn=ARN))
    assert parsed.eventSourceArn == ARN
    first, second = parsed.records["orders-0"][0], parsed.records["orders-3"][0]
    assert first.key == b"order-1"
    assert first.value == '{"n": 1}'
    assert first.headers == [{"content-type": b"application/json"}, {"bin": BINARY}]
    assert int(first.timestamp.timestamp() * 1000) == 1_700_000_000_001
    assert second.key == BINARY
    assert second.timestampType == "LOG_APPEND_TIME"


def test_self_managed_event_parses_with_powertools_model():
    event = kafka_event([_record(4)], source="self-managed", bootstrap_servers="a:9092,b:9092")
    parsed = KafkaSelfManagedEventModel.model_validate(event)
    assert parsed.bootstrapServers == ["a:9092", "b:9092"]
    assert parsed.records["orders-0"][0].offset == 4


def test_null_key_is_omitted_and_parses_as_none():
    event = kafka_event([_record(7, key=None)], source="msk", event_source_arn=ARN)
    assert "key" not in event["records"]["orders-0"][0]
    assert KafkaMskEventModel.model_validate(event).records["orders-0"][0].key is None
    assert next(KafkaEvent(event).records).decoded_key is None


def test_tombstone_value_is_omitted():
    event = kafka_event([_record(8, value=None)], source="msk", event_source_arn=ARN)
    assert "value" not in event["records"]["orders-0"][0]


def test_data_class_reads_values_and_headers():
    event = kafka_event([_record(1, headers=(("bin", BINARY),))], source="msk", event_source_arn=ARN)
    record = next(KafkaEvent(event).records)
    assert record.decoded_value == b'{"n": 1}'
    assert record.json_value == {"n": 1}
    assert record.decoded_headers["bin"] == BINARY
    assert KafkaEvent(event).decoded_bootstrap_servers == ["localhost:9092"]


def test_msk_event_without_cluster_arn_is_refused():
    with pytest.raises(ValueError, match="event_source_arn"):
        kafka_event([_record(1)], source="msk")


def test_unknown_source_is_refused():
    with pytest.raises(ValueError, match="source must be one of"):
        kafka_event([_record(1)], source="kinesis")
