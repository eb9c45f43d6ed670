"""AuditLog: every event from Kafka or the bus -> one masked log line and JSON Lines in the archive bucket."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import boto3
import pytest

from storefront.audit import UnknownInvocation
from storefront.events import MalformedEvent, parse_event
from tests.support.aws_faults import FAULTS, each_call_failing
from tests.support.factories import inventory, requested
from tests.support.kafka import failed_offsets, msk_event, record
from tests.support.stack import sample_event

TOPIC = "customer-accounts"


@pytest.fixture
def app(handler):
    return handler("AuditLog")


@pytest.fixture
def logs(app, function_logs):
    return function_logs(app)


def log_lines(logs) -> list[dict]:
    return [json.loads(line) for line in logs.getvalue().splitlines()]


@pytest.fixture
def archived(provisioned):
    """The archive bucket's current objects: {key: [line, ...]}."""
    s3, bucket = boto3.client("s3"), provisioned.physical_names["AuditArchiveBucket"]

    def read() -> dict[str, list[dict]]:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        return {
            key: [
                json.loads(line) for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()
            ]
            for key in keys
        }

    return read


def test_kafka_batch_is_archived_by_topic_and_hour_with_coordinates(app, archived, lambda_context):
    first, second = record(TOPIC, requested(1), partition=2), record(TOPIC, requested(2), partition=2)

    response = app.lambda_handler(msk_event(first, second), lambda_context)

    assert response == {"batchItemFailures": []}
    [(key, lines)] = archived().items()
    assert key.startswith(f"topic=customer-accounts/date=2026-11-26/hour=09/2-{first.offset}-")
    assert [(line["topic"], line["partition"], line["offset"], line["key"]) for line in lines] == [
        (TOPIC, 2, first.offset, "c-1"),
        (TOPIC, 2, second.offset, "c-2"),
    ]
    assert lines[0]["timestamp"] == first.timestamp_ms
    assert lines[0]["timestampType"] == "CREATE_TIME"


def test_archive_masks_the_password_hash_and_keeps_the_rest_for_replay(app, archived, lambda_context):
    app.lambda_handler(msk_event(record(TOPIC, requested(1))), lambda_context)

    [[line]] = archived().values()
    assert line["event"]["passwordHash"] == "*****"
    replayed = parse_event(line["event"])
    assert replayed == requested(1).model_copy(update={"password_hash": "*****"})


def test_redelivered_batch_overwrites_its_archive_object(app, archived, lambda_context):
    batch = msk_event(record(TOPIC, requested(1)), record(TOPIC, requested(2)))

    app.lambda_handler(batch, lambda_context)
    before = archived()
    app.lambda_handler(batch, lambda_context)

    assert archived() == before
    assert sum(len(lines) for lines in before.values()) == 2


def test_one_log_line_per_event_without_secrets_or_personal_data(app, logs, lambda_context):
    first, second = record(TOPIC, requested(1)), record(TOPIC, requested(2))

    app.lambda_handler(msk_event(first, second), lambda_context)

    audited = [line for line in log_lines(logs) if line["message"] == "audited"]
    assert [(a["event_id"], a["event_type"], a["aggregate_id"], a["offset"]) for a in audited] == [
        ("req-1", "AccountRequested", "c-1", first.offset),
        ("req-2", "AccountRequested", "c-2", second.offset),
    ]
    assert audited[0]["topic"] == TOPIC
    assert audited[0]["event"]["passwordHash"] == audited[0]["event"]["email"] == "*****"
    assert audited[0]["event"]["fullName"] == "*****"
    assert "$argon2id" not in logs.getvalue()
    assert "customer1@example.com" not in logs.getvalue()


def test_malformed_record_is_logged_without_content_reported_and_the_rest_archived(
    app, logs, archived, lambda_context
):
    good = record(TOPIC, requested(1))
    bad = record(TOPIC, b'{"eventType": "AccountRequested", "email": "leak@example.com"}', key="c-9")

    response = app.lambda_handler(msk_event(good, bad), lambda_context)

    assert failed_offsets(response) == [bad.offset]
    [malformed] = [line for line in log_lines(logs) if line["message"] == "malformed event"]
    assert (malformed["topic"], malformed["offset"]) == (TOPIC, bad.offset)
    assert "leak@example.com" not in logs.getvalue()
    [lines] = archived().values()
    assert [line["offset"] for line in lines] == [good.offset]


def test_tombstone_record_is_reported_as_malformed(app, archived, lambda_context):
    tombstone = record(TOPIC, b"", key="c-9")
    batch = msk_event(record(TOPIC, requested(1)), tombstone)
    del batch["records"][f"{TOPIC}-0"][1]["value"]

    response = app.lambda_handler(batch, lambda_context)

    assert failed_offsets(response) == [tombstone.offset]


def test_bus_event_is_archived_under_its_source(app, archived, lambda_context):
    app.lambda_handler(sample_event("audit_log/account-created.json"), lambda_context)

    [(key, [line])] = archived().items()
    assert key.startswith("bus=storefront.accounts/date=2026-11-26/hour=09/")
    assert line["bus"]["detailType"] == "AccountCreated"
    assert line["bus"]["id"] == "5e0c9a11-0000-4000-8000-000000000002"
    assert line["event"]["email"] == "customer1@example.com"  # the archive keeps personal data


def test_bus_event_log_line_is_masked_and_names_the_source(app, logs, lambda_context):
    app.lambda_handler(sample_event("audit_log/account-created.json"), lambda_context)

    [line] = log_lines(logs)
    assert (line["message"], line["source"], line["event_type"]) == (
        "audited",
        "storefront.accounts",
        "AccountCreated",
    )
    assert line["event"]["email"] == "*****"
    assert "customer1@example.com" not in logs.getvalue()


def test_redelivered_bus_event_overwrites_its_archive_object(app, archived, lambda_context):
    event = sample_event("audit_log/account-locked.json")

    app.lambda_handler(event, lambda_context)
    app.lambda_handler(event | {"id": "another-delivery"}, lambda_context)

    assert len(archived()) == 1


def test_malformed_bus_event_fails_and_archives_nothing(app, logs, archived, lambda_context):
    broken = sample_event("audit_log/account-created.json")
    broken["detail"]["email"] = "not-an-address"

    with pytest.raises(MalformedEvent):
        app.lambda_handler(broken, lambda_context)

    assert archived() == {}
    assert [line["message"] for line in log_lines(logs)] == ["malformed event"]
    assert "not-an-address" not in logs.getvalue()


def test_unknown_invocation_fails(app, lambda_context):
    with pytest.raises(UnknownInvocation):
        app.lambda_handler({"Records": []}, lambda_context)


def test_archive_failure_fails_the_whole_batch_for_a_retry(app, lambda_context, monkeypatch):
    def unavailable(*objects):
        raise ConnectionError("S3 unavailable")

    monkeypatch.setattr(app.archive, "put", unavailable)

    with pytest.raises(ConnectionError):
        app.lambda_handler(msk_event(record(TOPIC, requested(1))), lambda_context)


def test_sample_mixed_batch_spans_two_hours_and_fails_only_the_malformed(app, archived, lambda_context):
    response = app.lambda_handler(sample_event("audit_log/security-mixed-batch.json"), lambda_context)

    assert failed_offsets(response) == [301, 303]
    assert sorted(key.split("/")[2] for key in archived()) == ["hour=09", "hour=10"]


@pytest.mark.parametrize("fault", FAULTS)
def test_any_call_failing_then_the_retry_archives_each_record_once(
    app, archived, lambda_context, monkeypatch, fault
):
    def batch(n: int) -> dict:  # the retry is this same batch: same offsets, so the same object keys
        return msk_event(record(TOPIC, requested(n)))

    tried = set()
    for trial in each_call_failing(monkeypatch, fault, app.lambda_handler, batch, lambda_context):
        n, failed, response = trial.n, trial.failed, trial.answer
        tried.add(failed)
        assert response == {"batchItemFailures": []}, failed
        holding = [
            key
            for key, lines in archived().items()
            if any(line["event"]["eventId"] == f"req-{n}" for line in lines)
        ]
        assert len(holding) == 1, failed
    assert tried == {("s3", "PutObject")}


def test_a_megabyte_field_gives_a_short_log_line_and_is_archived_whole(app, logs, archived, lambda_context):
    huge = "W" * 1_048_576
    count = inventory("SKU-1", datetime(2026, 11, 26, 9, 0, tzinfo=UTC), 3, warehouse=huge)

    app.lambda_handler(msk_event(record("inventory", count)), lambda_context)

    [line] = [line for line in logs.getvalue().splitlines() if '"audited"' in line]
    assert len(line) < 2_000
    assert json.loads(line)["event"]["warehouseId"] == "W" * 256 + "...(1048576 characters)"
    [[archived_line]] = archived().values()
    assert archived_line["event"]["warehouseId"] == huge  # the archive rebuilds the read model: kept whole


# --- bus events in batches from the audit queue (an EventBridge rule's SQS target) ----------------

BATCH_SAMPLE = "audit_log/bus-events-batch.json"


def envelope(n: int, *, minute: int = 0) -> dict:
    """An AccountCreated as the bus delivers it, with its own envelope and event ids."""
    event = sample_event("audit_log/account-created.json")
    event["id"] = f"bus-{n}"
    event["detail"] |= {
        "eventId": f"created-{n}",
        "customerId": f"c-{n}",
        "occurredAt": f"2026-11-26T09:{minute:02d}:00Z",
    }
    return event


def queue_event(*bodies: dict | str) -> dict:
    """The event Lambda's SQS poller sends, one message per body, from the sample's message shape."""
    shape = sample_event(BATCH_SAMPLE)["Records"][0]
    records = []
    for body in bodies:
        text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
        message_id = f"m-{len(records)}-{hashlib.md5(text.encode()).hexdigest()[:8]}"
        records.append(
            shape
            | {"messageId": message_id, "body": text, "md5OfBody": hashlib.md5(text.encode()).hexdigest()}
        )
    return {"Records": records}


def failed_messages(response: dict) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def test_sample_queue_batch_archives_each_source_once_with_its_bus_envelope(app, archived, lambda_context):
    response = app.lambda_handler(sample_event(BATCH_SAMPLE), lambda_context)

    assert response == {"batchItemFailures": []}
    objects = archived()
    assert sorted(key.split("/")[0] for key in objects) == [
        "bus=storefront.accounts",
        "bus=storefront.fulfilment",
        "bus=storefront.security",
    ]
    [[locked]] = [lines for key, lines in objects.items() if key.startswith("bus=storefront.security/")]
    assert locked["bus"]["id"] == "5e0c9a11-0000-4000-8000-000000000001"
    assert locked["event"]["eventType"] == "AccountLocked"


def test_a_queue_batch_of_one_source_and_hour_is_one_object_in_event_order(app, archived, lambda_context):
    response = app.lambda_handler(queue_event(envelope(2, minute=5), envelope(1, minute=7)), lambda_context)

    assert response == {"batchItemFailures": []}
    [(key, lines)] = archived().items()
    assert key.startswith("bus=storefront.accounts/date=2026-11-26/hour=09/created-1-")
    assert [(line["bus"]["id"], line["event"]["eventId"]) for line in lines] == [
        ("bus-1", "created-1"),
        ("bus-2", "created-2"),
    ]


def test_a_queue_batch_spanning_two_hours_is_one_object_per_hour(app, archived, lambda_context):
    late = envelope(3)
    late["detail"]["occurredAt"] = "2026-11-26T10:15:00Z"

    app.lambda_handler(queue_event(envelope(1), envelope(2), late), lambda_context)

    assert {key.split("/")[2]: len(lines) for key, lines in archived().items()} == {
        "hour=09": 2,
        "hour=10": 1,
    }


def test_malformed_messages_are_reported_by_id_logged_without_content_and_the_rest_archived(
    app, logs, archived, lambda_context
):
    broken = envelope(2)
    broken["detail"]["email"] = "not-an-address"
    batch = queue_event(envelope(1), "not json: leak@example.com", broken, {"detail": "leak@example.com"})

    response = app.lambda_handler(batch, lambda_context)

    assert failed_messages(response) == [r["messageId"] for r in batch["Records"][1:]]
    [[line]] = archived().values()
    assert line["event"]["eventId"] == "created-1"
    malformed = [line for line in log_lines(logs) if line["message"] == "malformed event"]
    assert len(malformed) == 3
    assert malformed[0]["message_id"] == batch["Records"][1]["messageId"]
    assert "leak@example.com" not in logs.getvalue()
    assert "not-an-address" not in logs.getvalue()


def test_a_redelivered_queue_batch_overwrites_its_objects(app, archived, lambda_context):
    batch = queue_event(envelope(1), envelope(2))

    app.lambda_handler(batch, lambda_context)
    before = archived()
    app.lambda_handler(batch, lambda_context)

    assert archived() == before


def test_a_message_redelivered_in_another_batch_is_one_event_to_readers_by_its_id(
    app, archived, lambda_context
):
    # SQS is at least once, and a failed message comes back alone or beside others: its line is
    # written again in another object, and a reader keeps one line per event id (tests/faults).
    app.lambda_handler(queue_event(envelope(1), envelope(2)), lambda_context)
    app.lambda_handler(queue_event(envelope(2), envelope(3)), lambda_context)

    objects = archived()
    assert len(objects) == 2
    event_ids = [line["event"]["eventId"] for lines in objects.values() for line in lines]
    assert sorted(set(event_ids)) == ["created-1", "created-2", "created-3"]


def test_a_batch_of_ten_bus_events_of_one_source_and_hour_costs_one_put_object(app, lambda_context):
    calls = []

    def count(event_name, **_):
        calls.append(event_name.rsplit(".", 1)[-1])

    app.archive._client.meta.events.register("before-call.*.*", count)
    try:
        response = app.lambda_handler(queue_event(*(envelope(n) for n in range(10))), lambda_context)
    finally:
        app.archive._client.meta.events.unregister("before-call.*.*", count)

    assert response == {"batchItemFailures": []}
    assert calls == ["PutObject"]


def test_an_s3_failure_fails_the_whole_queue_batch_for_a_retry(app, lambda_context, monkeypatch):
    def unavailable(*objects):
        raise ConnectionError("S3 unavailable")

    monkeypatch.setattr(app.archive, "put", unavailable)

    with pytest.raises(ConnectionError):
        app.lambda_handler(queue_event(envelope(1)), lambda_context)
