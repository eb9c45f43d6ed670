"""LockAccount: AccessDenied on Kafka -> attempts counted in DynamoDB, the account locked once, AccountLocked."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from storefront.events import AccessDenied, LoginSucceeded
from tests.support.aws_faults import FAULTS, aws_calls, copies, each_call_failing
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


def test_redelivered_batch_locks_once_and_announces_the_same_event_again(
    app, accounts, attempts, bus_spy, lambda_context
):
    batch = msk_event(*three_denied())
    app.lambda_handler(batch, lambda_context)
    first = accounts.get_item(Key={"customerId": "c-1"})["Item"], _stored(attempts)

    assert app.lambda_handler(batch, lambda_context) == {"batchItemFailures": []}

    assert (accounts.get_item(Key={"customerId": "c-1"})["Item"], _stored(attempts)) == first
    assert copies(bus_spy.events()) == 2  # one event id: subscribers take it once


def _stored(attempts) -> list[dict]:
    # The attempts without their expiry: it counts from when the attempt was processed, so a
    # redelivery a second later overwrites it with a TTL a second later (what an attempt is does not
    # change; it is kept no shorter).
    return [{k: v for k, v in item.items() if k != "expiresAt"} for item in attempts.scan()["Items"]]


def test_redelivered_attempts_count_once(app, accounts, attempts, bus_spy, lambda_context):
    # The attempt store alone keeps a redelivery from counting twice: the same attempt, the same item.
    first, second, _ = three_denied()
    app.lambda_handler(msk_event(first, second), lambda_context)

    app.lambda_handler(msk_event(first, second), lambda_context)
    app.lambda_handler(msk_event(first), lambda_context)

    assert status(accounts, "c-1") == "ACTIVE"
    assert attempts.scan()["Count"] == 2
    assert bus_spy.events() == []


# Out of order and spread over more than the first read's span (minutes): the one lock is by the
# attempt at 45, completing the window that ends at 50 (40, 45, 50); the attempt at 10 locks nothing.
SPREAD = (0, 40, 20, 50, 45, 10)


def test_a_batch_decides_as_one_record_at_a_time_with_a_read_per_customer_and_span(
    app, accounts, bus_spy, lambda_context, monkeypatch
):
    one_by_one = [record(TOPIC, denied(n, minutes=m, customer_id="c-2")) for n, m in enumerate(SPREAD)]
    for each in one_by_one:
        app.lambda_handler(msk_event(each), lambda_context)
    batch = msk_event(*(record(TOPIC, denied(n, minutes=m)) for n, m in enumerate(SPREAD)))

    with aws_calls(monkeypatch) as calls:
        assert app.lambda_handler(batch, lambda_context) == {"batchItemFailures": []}

    locked = {c: accounts.get_item(Key={"customerId": c})["Item"] for c in ("c-1", "c-2")}
    assert locked["c-1"]["lockedByEventId"] == "deny-c-1-4"
    assert locked["c-2"]["lockedByEventId"] == "deny-c-2-4"
    assert locked["c-1"]["lockedAt"] == locked["c-2"]["lockedAt"] == (T0 + timedelta(minutes=50)).isoformat()
    details = {e["detail"]["customerId"]: e["detail"] for e in bus_spy.events()}
    assert details["c-1"]["deniedAttempts"] == details["c-2"]["deniedAttempts"] == 3
    # The first read spans [-15, 30]; the attempts at 40 and 50 widen it once each.
    assert Counter(calls.made) == {
        ("dynamodb", "PutItem"): 6,
        ("dynamodb", "Query"): 3,
        ("dynamodb", "UpdateItem"): 1,
        ("events", "PutEvents"): 1,
    }


def test_a_batch_reads_each_customer_once_and_puts_its_announcements_together(
    app, accounts, lambda_context, monkeypatch
):
    batch = msk_event(
        *three_denied("c-1"), *three_denied("c-2"), record(TOPIC, denied(9, minutes=1, customer_id="c-3"))
    )

    with aws_calls(monkeypatch) as calls:
        assert app.lambda_handler(batch, lambda_context) == {"batchItemFailures": []}

    assert Counter(calls.made) == {
        ("dynamodb", "PutItem"): 7,  # one per attempt
        ("dynamodb", "Query"): 3,  # one per customer
        ("dynamodb", "UpdateItem"): 2,  # one per lock
        ("events", "PutEvents"): 1,
    }


def test_a_record_whose_announcement_was_refused_is_retried_and_ends_locked_and_announced(
    app, accounts, bus_spy, lambda_context, monkeypatch
):
    *_, third = batch_records = three_denied()
    put_events = app.bus._client.put_events

    def refuse_all(**call):
        return {
            "FailedEntryCount": len(call["Entries"]),
            "Entries": [{"ErrorCode": "InternalFailure"}] * len(call["Entries"]),
        }

    monkeypatch.setattr(app.bus._client, "put_events", refuse_all)
    assert failed_offsets(app.lambda_handler(msk_event(*batch_records), lambda_context)) == [third.offset]
    monkeypatch.setattr(app.bus._client, "put_events", put_events)
    assert app.lambda_handler(msk_event(third), lambda_context) == {"batchItemFailures": []}

    assert accounts.get_item(Key={"customerId": "c-1"})["Item"]["lockedByEventId"] == "deny-c-1-2"
    [announced] = bus_spy.events()
    assert announced["detail"]["deniedAttempts"] == 3


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
        # The retry announces again (no idempotency record answers it): the same event, which
        # consumers drop; a PutEvents resent by botocore adds one more copy.
        most = 3 if (fault, failed) == ("resent", ("events", "PutEvents")) else 2
        announced = [e for e in bus_spy.events() if e["detail"]["customerId"] == f"c-fault-{n}"]
        assert 1 <= copies(announced) <= most
    assert {("dynamodb", "Query"), ("dynamodb", "UpdateItem"), ("events", "PutEvents")} <= tried
