"""CreateAccount: AccountRequested on Kafka -> an account in DynamoDB and AccountCreated on the bus."""

from __future__ import annotations

from collections import Counter

import boto3
import pytest

from tests.support.aws_faults import FAULTS, aws_calls, copies, each_call_failing
from tests.support.factories import requested
from tests.support.kafka import failed_offsets, msk_event, record
from tests.support.refusals import refusing_the_last

TOPIC = "customer-accounts"


@pytest.fixture
def app(handler):
    return handler("CreateAccount")


@pytest.fixture
def accounts(provisioned):
    return boto3.resource("dynamodb").Table(provisioned.physical_names["AccountsTable"])


def test_requested_account_is_stored_and_announced(app, accounts, bus_spy, lambda_context):
    response = app.lambda_handler(msk_event(record(TOPIC, requested(1))), lambda_context)

    assert response == {"batchItemFailures": []}
    item = accounts.get_item(Key={"customerId": "c-1"})["Item"]
    assert item["status"] == "ACTIVE"
    assert item["email"] == "customer1@example.com"
    announced = bus_spy.events()
    assert [e["detail-type"] for e in announced] == ["AccountCreated"]
    assert announced[0]["source"] == "storefront.accounts"
    assert announced[0]["detail"]["customerId"] == "c-1"
    assert "passwordHash" not in announced[0]["detail"]


def test_redelivered_batch_adds_nothing_and_announces_the_same_events_again(
    app, accounts, bus_spy, lambda_context
):
    batch = msk_event(record(TOPIC, requested(1)), record(TOPIC, requested(2)))
    app.lambda_handler(batch, lambda_context)
    stored, first = accounts.scan()["Items"], bus_spy.events()

    response = app.lambda_handler(batch, lambda_context)

    assert response == {"batchItemFailures": []}
    assert accounts.scan()["Items"] == stored
    # The same ids (subscribers dedupe on them), stamped with the accounts' creation time again.
    assert [e["detail"] for e in bus_spy.events()] == [e["detail"] for e in first]
    assert len(first) == 2


def test_record_whose_announcement_was_refused_is_retried_and_ends_stored_once_and_announced(
    app, accounts, bus_spy, lambda_context, monkeypatch
):
    batch = msk_event(record(TOPIC, requested(1)), refused := record(TOPIC, requested(2)))
    with monkeypatch.context() as patch:
        patch.setattr(app.bus._client, "put_events", refusing_the_last(app.bus._client.put_events))
        assert failed_offsets(app.lambda_handler(batch, lambda_context)) == [refused.offset]
    assert accounts.get_item(Key={"customerId": "c-2"})["Item"]["openedByEventId"] == "req-2"

    assert app.lambda_handler(msk_event(refused), lambda_context) == {"batchItemFailures": []}

    assert accounts.scan()["Count"] == 2
    assert sorted(e["detail"]["customerId"] for e in bus_spy.events()) == ["c-1", "c-2"]


def test_a_batch_costs_one_write_a_record_and_one_put_events_per_ten(app, lambda_context, monkeypatch):
    batch = msk_event(*(record(TOPIC, requested(n)) for n in range(1, 11)))
    with aws_calls(monkeypatch) as calls:
        app.lambda_handler(batch, lambda_context)
        first = Counter(calls.made)
        app.lambda_handler(batch, lambda_context)  # redelivered: each write refused, all announced again

    assert first == {("dynamodb", "UpdateItem"): 10, ("events", "PutEvents"): 1}
    assert Counter(calls.made) - first == first


def test_malformed_record_is_reported_and_the_rest_applied(app, accounts, bus_spy, lambda_context):
    good, bad = record(TOPIC, requested(1)), record(TOPIC, b"{not json", key="c-9")

    response = app.lambda_handler(msk_event(good, bad), lambda_context)

    assert failed_offsets(response) == [bad.offset]
    assert accounts.get_item(Key={"customerId": "c-1"}).get("Item") is not None
    assert bus_spy.detail_types() == ["AccountCreated"]


def test_second_request_for_a_taken_customer_id_fails_that_record_only(app, accounts, lambda_context):
    first = requested(1)
    conflicting = first.model_copy(update={"event_id": "req-other", "email": "other@example.com"})

    response = app.lambda_handler(
        msk_event(record(TOPIC, first), conflict := record(TOPIC, conflicting)), lambda_context
    )

    assert failed_offsets(response) == [conflict.offset]
    assert accounts.get_item(Key={"customerId": "c-1"})["Item"]["email"] == "customer1@example.com"


def test_password_hash_never_reaches_the_logs(app, lambda_context, debug_logs):
    app.lambda_handler(msk_event(record(TOPIC, requested(1)), record(TOPIC, b"\xff")), lambda_context)
    written = debug_logs.getvalue()
    assert "account created" in written  # the per-record DEBUG lines were caught
    assert "$argon2id" not in written
    assert "customer1@example.com" not in written


def test_tombstone_is_reported_not_crashed_on(app, accounts, lambda_context):
    tombstone = record(TOPIC, b"", key="c-7")
    event = msk_event(record(TOPIC, requested(1)), tombstone)
    for records in event["records"].values():
        for r in records:
            if r["offset"] == tombstone.offset:
                del r["value"]  # how Lambda sends a null value

    response = app.lambda_handler(event, lambda_context)

    assert failed_offsets(response) == [tombstone.offset]
    assert accounts.get_item(Key={"customerId": "c-1"}).get("Item") is not None


def test_account_locked_before_its_request_was_read_is_stored_locked(app, accounts, bus_spy, lambda_context):
    # The security topic ran ahead of customer-accounts: LockAccount locked the customer first.
    accounts.put_item(Item={"customerId": "c-1", "status": "LOCKED", "lockedByEventId": "denied-3"})

    response = app.lambda_handler(msk_event(record(TOPIC, requested(1))), lambda_context)

    assert response == {"batchItemFailures": []}
    item = accounts.get_item(Key={"customerId": "c-1"})["Item"]
    assert (item["status"], item["email"], item["lockedByEventId"]) == (
        "LOCKED",
        "customer1@example.com",
        "denied-3",
    )
    assert bus_spy.detail_types() == ["AccountCreated"]


@pytest.mark.parametrize("fault", FAULTS)
def test_any_call_failing_then_the_retry_stores_one_account_and_announces_one_event(
    app, accounts, bus_spy, lambda_context, monkeypatch, fault
):
    def batch(n: int) -> dict:
        return msk_event(record(TOPIC, requested(n)))

    tried = set()
    for trial in each_call_failing(monkeypatch, fault, app.lambda_handler, batch, lambda_context):
        n, failed, response = trial.n, trial.failed, trial.answer
        tried.add(failed)
        assert response == {"batchItemFailures": []}, failed
        assert accounts.get_item(Key={"customerId": f"c-{n}"})["Item"]["openedByEventId"] == f"req-{n}"
        # The retry announces again (a third copy when PutEvents itself was resent): the same event,
        # which consumers drop.
        announced = [e for e in bus_spy.events() if e["detail"]["customerId"] == f"c-{n}"]
        assert 1 <= copies(announced) <= 2 + trial.repeats(("events", "PutEvents")), failed
    assert {("dynamodb", "UpdateItem"), ("events", "PutEvents")} <= tried
