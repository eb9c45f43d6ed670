"""AuditLog: every event from Kafka or the bus -> one masked log line and JSON Lines in the archive bucket."""

from __future__ import annotations

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
