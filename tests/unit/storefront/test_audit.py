"""The audit trail's pure parts: invocation shape, masking field lists, archive lines and keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from storefront.audit import (
    ARCHIVE_ERASED_FIELDS,
    LOG_ERASED_FIELDS,
    BusCoordinates,
    KafkaCoordinates,
    UnknownInvocation,
    archive_line,
    archive_objects,
    envelope_of_message,
    invocation_kind,
    log_fields,
)
from storefront.events import AccessDenied, AccountCreated, MalformedEvent

T0 = datetime(2026, 11, 26, 9, 58, tzinfo=UTC)


def denied(n: int, minutes: float = 0) -> AccessDenied:
    return AccessDenied(
        event_id=f"deny-{n}",
        occurred_at=T0 + timedelta(minutes=minutes),
        customer_id="c-1",
        source_ip="192.0.2.1",
    )


def at(offset: int, *, partition: int = 0, key: bytes | None = b"c-1") -> KafkaCoordinates:
    return KafkaCoordinates(
        topic="security",
        partition=partition,
        offset=offset,
        timestamp=1795687080000,
        timestamp_type="CREATE_TIME",
        key=key,
    )


BUS = BusCoordinates(
    id="env-1", source="storefront.accounts", detail_type="AccountCreated", time="2026-11-26T09:00:02Z"
)
CREATED = AccountCreated(
    event_id="created-1",
    occurred_at=datetime(2026, 11, 26, 9, 0, 2, tzinfo=UTC),
    customer_id="c-1",
    email="ann@example.com",
    full_name="Ann Lee",
)


def test_kafka_batch_is_recognised_for_msk_and_self_managed_kafka():
    assert invocation_kind({"eventSource": "aws:kafka", "records": {}}) == "kafka"
    assert invocation_kind({"eventSource": "SelfManagedKafka", "records": {}}) == "kafka"


def test_eventbridge_envelope_is_recognised():
    assert (
        invocation_kind({"version": "0", "detail-type": "X", "source": "storefront.x", "detail": {}})
        == "eventbridge"
    )


def test_a_batch_of_sqs_messages_is_recognised():
    assert invocation_kind({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]}) == "sqs"


def test_anything_else_is_refused():
    for event in (
        {"Records": [{"eventSource": "aws:sns"}]},
        {"Records": [{"eventSource": "aws:sqs"}, {"eventSource": "aws:kinesis"}]},
        {"Records": []},
    ):
        with pytest.raises(UnknownInvocation):
            invocation_kind(event)


def test_a_message_body_is_the_eventbridge_event_or_malformed_naming_only_the_message():
    event = {"version": "0", "id": "e-1", "detail-type": "X", "source": "storefront.x", "detail": {}}
    assert envelope_of_message(json.dumps(event), "m-1") == event
    for body in ("secret text", "[1, 2]", json.dumps({"detail": "secret"})):
        with pytest.raises(MalformedEvent, match=r"^SQS message m-1: ") as raised:
            envelope_of_message(body, "m-1")
        assert "secret" not in str(raised.value)


def test_logs_erase_secrets_and_personal_data_the_archive_only_secrets():
    assert {"passwordHash", "email", "fullName", "shippingAddress", "sourceIp"} <= set(LOG_ERASED_FIELDS)
    assert ARCHIVE_ERASED_FIELDS == ("passwordHash",)


def test_log_fields_name_the_event_and_where_it_came_from():
    assert log_fields(denied(1), at(7)) == {
        "event_type": "AccessDenied",
        "event_id": "deny-1",
        "aggregate_id": "c-1",
        "topic": "security",
        "partition": 0,
        "offset": 7,
    }
    assert log_fields(CREATED, BUS)["source"] == "storefront.accounts"


def test_kafka_line_carries_the_coordinates_and_the_given_event():
    line = archive_line(denied(1), {"eventId": "deny-1"}, at(7))
    assert line.body == {
        "topic": "security",
        "partition": 0,
        "offset": 7,
        "timestamp": 1795687080000,
        "timestampType": "CREATE_TIME",
        "key": "c-1",
        "event": {"eventId": "deny-1"},
    }


def test_binary_key_is_kept_in_base64():
    line = archive_line(denied(1), {}, at(7, key=b"\xff\x00"))
    assert (line.body["key"], line.body["keyBase64"]) == (None, "/wA=")


def test_bus_line_carries_the_envelope():
    line = archive_line(CREATED, {"eventId": "created-1"}, BUS)
    assert line.body["bus"]["id"] == "env-1"
    assert line.body["bus"]["detailType"] == "AccountCreated"
    assert line.body["event"] == {"eventId": "created-1"}


def test_kafka_object_is_partitioned_by_topic_and_hour_of_event_time():
    [obj] = archive_objects([archive_line(denied(1), {}, at(7)), archive_line(denied(2, 1), {}, at(8))])
    assert obj.key.startswith("topic=security/date=2026-11-26/hour=09/0-7-")
    assert obj.key.endswith(".jsonl")
    assert [json.loads(line)["offset"] for line in obj.body.decode().splitlines()] == [7, 8]


def test_batch_across_an_hour_boundary_makes_one_object_per_hour():
    objects = archive_objects([archive_line(denied(1, 0), {}, at(7)), archive_line(denied(2, 3), {}, at(8))])
    assert [o.key.split("/")[2] for o in objects] == ["hour=09", "hour=10"]


def test_partitions_are_archived_apart():
    objects = archive_objects(
        [archive_line(denied(1), {}, at(7)), archive_line(denied(2), {}, at(7, partition=1))]
    )
    assert sorted(o.key.split("/")[-1].split("-")[0] for o in objects) == ["0", "1"]


def test_same_records_give_the_same_key_whatever_their_order():
    lines = [archive_line(denied(1), {}, at(7)), archive_line(denied(2), {}, at(8))]
    assert archive_objects(lines) == archive_objects(list(reversed(lines)))


def test_different_records_give_different_keys():
    one = archive_objects([archive_line(denied(1), {}, at(7)), archive_line(denied(2), {}, at(8))])
    other = archive_objects([archive_line(denied(1), {}, at(7)), archive_line(denied(3), {}, at(9))])
    assert one[0].key != other[0].key


def test_record_repeated_within_a_batch_is_archived_once():
    [obj] = archive_objects([archive_line(denied(1), {}, at(7)), archive_line(denied(1), {}, at(7))])
    assert obj.line_count == 1


def test_bus_object_is_keyed_by_source_hour_and_event_id():
    [obj] = archive_objects([archive_line(CREATED, {}, BUS)])
    assert obj.key.startswith("bus=storefront.accounts/date=2026-11-26/hour=09/created-1-")


def test_unsafe_characters_in_an_event_id_stay_out_of_the_key_path():
    event = CREATED.model_copy(update={"event_id": "../../etc/passwd"})
    [obj] = archive_objects([archive_line(event, {}, BUS)])
    assert obj.key.count("/") == 3
    assert ".._.._etc_passwd-" in obj.key


def test_lines_are_utf8_json_one_per_line():
    [obj] = archive_objects([archive_line(CREATED, {"fullName": "Zoë"}, BUS)])
    assert obj.body.endswith(b"\n")
    assert json.loads(obj.body.decode("utf-8"))["event"]["fullName"] == "Zoë"
