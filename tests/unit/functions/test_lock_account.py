"""LockAccount: AccessDenied on Kafka -> attempts counted in DynamoDB, the account locked once, AccountLocked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from storefront.events import AccessDenied, LoginSucceeded
from tests.support.aws_faults import FAULTS, copies, each_call_failing
from tests.support.kafka import failed_offsets, msk_event, record
from tests.support.stack import load_handler, sample_event

TOPIC = "security"
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def denied(n: int, *, minutes: float, customer_id: str = "c-1") -> AccessDenied:
    return AccessDenied(
        event_id=f"deny-{customer_id}-{n}",
        occurred_at=T0 + timedelta(minutes=minutes),
        customer_id=customer_id,
        source_ip="198.51.100.23",
    )


def three_denied(customer_id: str = "c-1") -> list:
    return [record(TOPIC, denied(n, minutes=5 * n, customer_id=customer_id)) for n in range(3)]


@pytest.fixture
def app(handler):
    return handler("LockAccount")


@pytest.fixture
def accounts(provisioned):
    table = boto3.resource("dynamodb").Table(provisioned.physical_names["AccountsTable"])
    for customer_id in ("c-1", "c-2", "cust-1001", "cust-1003"):
        table.put_item(
            Item={
                "customerId": customer_id,
                "email": f"{customer_id}@example.com",
                "fullName": "Ann Lee",
                "passwordHash": "$argon2id$v=19$hash",
                "status": "ACTIVE",
                "createdAt": "2026-11-01T00:00:00+00:00",
                "openedByEventId": f"req-{customer_id}",
            }
        )
    return table


@pytest.fixture
def attempts(provisioned):
    return boto3.resource("dynamodb").Table(provisioned.physical_names["AccessAttemptsTable"])


def status(accounts, customer_id: str) -> str:
    return accounts.get_item(Key={"customerId": customer_id})["Item"]["status"]


def test_third_denied_attempt_in_the_window_locks_and_announces(app, accounts, bus_spy, lambda_context):
    response = app.lambda_handler(msk_event(*three_denied()), lambda_context)

    assert response == {"batchItemFailures": []}
    item = accounts.get_item(Key={"customerId": "c-1"})["Item"]
    assert item["status"] == "LOCKED"
    assert item["lockedByEventId"] == "deny-c-1-2"
    announced = bus_spy.events()
    assert [(e["source"], e["detail-type"]) for e in announced] == [("storefront.security", "AccountLocked")]
    assert announced[0]["detail"]["customerId"] == "c-1"
    assert announced[0]["detail"]["deniedAttempts"] == 3
    assert announced[0]["detail"]["windowSeconds"] == 900


def test_each_attempt_is_stored_by_event_time_with_a_ttl(app, accounts, attempts, lambda_context):
    app.lambda_handler(msk_event(record(TOPIC, denied(0, minutes=0))), lambda_context)

    [item] = attempts.query(
        KeyConditionExpression="customerId = :c", ExpressionAttributeValues={":c": "c-1"}
    )["Items"]
    assert item["attemptKey"] == "2026-11-26T09:00:00.000000Z#deny-c-1-0"
    assert item["expiresAt"] >= int((T0 + timedelta(seconds=900)).timestamp())


def test_two_attempts_do_not_lock(app, accounts, bus_spy, lambda_context):
    app.lambda_handler(msk_event(*three_denied()[:2]), lambda_context)

    assert status(accounts, "c-1") == "ACTIVE"
    assert bus_spy.events() == []


def test_attempts_spread_wider_than_the_window_do_not_lock(app, accounts, bus_spy, lambda_context):
    spread = [record(TOPIC, denied(n, minutes=10 * n)) for n in range(3)]  # 0, 10, 20 minutes

    app.lambda_handler(msk_event(*spread), lambda_context)

    assert status(accounts, "c-1") == "ACTIVE"


def test_attempts_of_earlier_batches_count(app, accounts, bus_spy, lambda_context):
    first, second, third = three_denied()
    app.lambda_handler(msk_event(first, second), lambda_context)
    app.lambda_handler(msk_event(third), lambda_context)

    assert status(accounts, "c-1") == "LOCKED"
    assert bus_spy.detail_types() == ["AccountLocked"]


def test_redelivered_batch_locks_and_announces_once(app, accounts, bus_spy, lambda_context):
    batch = msk_event(*three_denied())

    app.lambda_handler(batch, lambda_context)
    app.lambda_handler(batch, lambda_context)

    assert bus_spy.detail_types() == ["AccountLocked"]


def test_redelivered_attempts_without_idempotency_records_count_once(
    app, accounts, attempts, bus_spy, lambda_context, provisioned
):
    # The attempt store alone keeps a redelivery from counting twice (e.g. idempotency records expired).
    first, second, _ = three_denied()
    app.lambda_handler(msk_event(first, second), lambda_context)
    idempotency = boto3.resource("dynamodb").Table(provisioned.physical_names["IdempotencyTable"])
    for item in idempotency.scan()["Items"]:
        idempotency.delete_item(Key={"id": item["id"]})

    app.lambda_handler(msk_event(first, second), lambda_context)

    assert status(accounts, "c-1") == "ACTIVE"
    assert attempts.scan()["Count"] == 2


def test_already_locked_account_changes_nothing_and_announces_nothing(app, accounts, bus_spy, lambda_context):
    accounts.update_item(
        Key={"customerId": "c-1"},
        UpdateExpression="SET #s = :l, lockedAt = :at, lockedByEventId = :by",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":l": "LOCKED", ":at": "2026-11-25T00:00:00+00:00", ":by": "deny-earlier"},
    )

    app.lambda_handler(msk_event(*three_denied(), record(TOPIC, denied(3, minutes=12))), lambda_context)

    item = accounts.get_item(Key={"customerId": "c-1"})["Item"]
    assert (item["lockedByEventId"], item["lockedAt"]) == ("deny-earlier", "2026-11-25T00:00:00+00:00")
    assert bus_spy.events() == []


def test_fourth_attempt_after_the_lock_announces_nothing_more(app, accounts, bus_spy, lambda_context):
    app.lambda_handler(msk_event(*three_denied(), record(TOPIC, denied(3, minutes=12))), lambda_context)

    assert bus_spy.detail_types() == ["AccountLocked"]


def test_denials_counted_before_the_account_is_stored_still_lock_it(app, accounts, bus_spy, lambda_context):
    response = app.lambda_handler(msk_event(*three_denied("c-new")), lambda_context)

    assert response == {"batchItemFailures": []}
    assert status(accounts, "c-new") == "LOCKED"
    assert bus_spy.detail_types() == ["AccountLocked"]


def test_other_security_events_are_skipped(app, accounts, bus_spy, attempts, lambda_context):
    login = LoginSucceeded(event_id="login-1", occurred_at=T0, customer_id="c-1", source_ip="198.51.100.23")

    response = app.lambda_handler(msk_event(record(TOPIC, login)), lambda_context)

    assert response == {"batchItemFailures": []}
    assert attempts.scan()["Count"] == 0


def test_malformed_record_is_reported_and_the_rest_applied(app, accounts, bus_spy, lambda_context):
    first, second, third = three_denied()
    bad = record(TOPIC, b'{"eventType": "AccessDenied"}', key="c-1")

    response = app.lambda_handler(msk_event(first, bad, second, third), lambda_context)

    assert failed_offsets(response) == [bad.offset]
    assert status(accounts, "c-1") == "LOCKED"
    assert bus_spy.detail_types() == ["AccountLocked"]


def test_threshold_and_window_come_from_the_environment(
    handler, provisioned, accounts, monkeypatch, lambda_context
):
    handler("LockAccount")
    monkeypatch.setenv("LOCK_THRESHOLD", "2")
    app = load_handler(provisioned, "LockAccount")

    app.lambda_handler(msk_event(*three_denied()[:2]), lambda_context)

    assert status(accounts, "c-1") == "LOCKED"


def test_source_ip_never_reaches_the_logs(app, debug_logs, accounts, lambda_context):
    app.lambda_handler(msk_event(*three_denied(), record(TOPIC, b"\xff")), lambda_context)

    assert "denied attempt counted" in debug_logs.getvalue()  # the per-record DEBUG lines were caught
    assert "198.51.100.23" not in debug_logs.getvalue()


def test_sample_attack_locks_the_account(app, accounts, bus_spy, lambda_context):
    response = app.lambda_handler(
        sample_event("lock_account/access-denied-three-in-window.json"), lambda_context
    )

    assert response == {"batchItemFailures": []}
    assert status(accounts, "cust-1001") == "LOCKED"
    assert bus_spy.detail_types() == ["AccountLocked"]


def test_sample_mixed_batch_fails_only_the_malformed_records(app, accounts, bus_spy, lambda_context):
    response = app.lambda_handler(sample_event("lock_account/access-denied-mixed-batch.json"), lambda_context)

    assert failed_offsets(response) == [71, 72]
    assert status(accounts, "cust-1003") == "LOCKED"


@pytest.mark.parametrize("fault", FAULTS)
def test_any_call_failing_then_the_retry_locks_once_and_announces_one_event(
    app, accounts, bus_spy, lambda_context, monkeypatch, fault
):
    def third_attempt(n: int) -> dict:
        # Each customer's first two attempts are counted before (and outside) the faults.
        first, second, third = three_denied(customer_id=f"c-fault-{n}")
        assert app.lambda_handler(msk_event(first, second), lambda_context) == {"batchItemFailures": []}
        return msk_event(third)

    tried = set()
    for trial in each_call_failing(monkeypatch, fault, app.lambda_handler, third_attempt, lambda_context):
        n, failed, response = trial.n, trial.failed, trial.answer
        tried.add(failed)
        assert response == {"batchItemFailures": []}, failed
        item = accounts.get_item(Key={"customerId": f"c-fault-{n}"})["Item"]
        assert (item["status"], item["lockedByEventId"]) == ("LOCKED", f"deny-c-fault-{n}-2"), failed
        # A failure after PutEvents is followed by a second copy: the same event, which consumers drop.
        assert copies([e for e in bus_spy.events() if e["detail"]["customerId"] == f"c-fault-{n}"]) in (1, 2)
    assert {("dynamodb", "Query"), ("dynamodb", "UpdateItem"), ("events", "PutEvents")} <= tried
