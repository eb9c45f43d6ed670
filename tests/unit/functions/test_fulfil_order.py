"""FulfilOrder: assembly requests on SQS -> one assembly per order in DynamoDB and OrderAssembled on
the bus, each failed message reported by its messageId."""

from __future__ import annotations

import copy
import json
import uuid
from collections import Counter
from datetime import UTC, datetime

import boto3
import pytest

from storefront.adapters.fulfilment import message_body
from storefront.events import Address, OrderLine
from storefront.fulfilment import FulfilmentRequest
from tests.support.aws_faults import FAULTS, aws_calls, copies, each_call_failing
from tests.support.stack import sample_event

SAMPLE = "fulfil_order/assembly-request.json"


def request(n: int, request_id: str | None = None) -> FulfilmentRequest:
    return FulfilmentRequest(
        request_id=request_id or f"FR-{n}",
        order_id=f"o-{n}",
        customer_id=f"c-{n}",
        lines=(OrderLine(sku="MUG-BLUE-350", quantity=2, unit_price_cents=1299),),
        shipping_address=Address(
            name="Ada Byron", line1="12 Marsh Lane", city="Leeds", postal_code="LS6 2QE", country="GB"
        ),
        requested_at=datetime(2026, 11, 26, 9, n, tzinfo=UTC),
    )


def sqs_event(*bodies: FulfilmentRequest | str) -> dict:
    """The event Lambda's SQS poller sends, one record per body, from the sample's record shape."""
    shape = sample_event(SAMPLE)["Records"][0]
    records = []
    for body in bodies:
        record = copy.deepcopy(shape)
        record["messageId"] = str(uuid.uuid4())
        record["body"] = body if isinstance(body, str) else json.dumps(message_body(body))
        records.append(record)
    return {"Records": records}


def failed_ids(response: dict) -> list[str]:
    return sorted(f["itemIdentifier"] for f in response["batchItemFailures"])


@pytest.fixture
def app(handler):
    return handler("FulfilOrder")


@pytest.fixture
def assemblies(provisioned):
    return boto3.resource("dynamodb").Table(provisioned.physical_names["AssembliesTable"])


def test_sample_request_assembles_its_order_and_announces_it(app, assemblies, bus_spy, lambda_context):
    response = app.lambda_handler(sample_event(SAMPLE), lambda_context)

    assert response == {"batchItemFailures": []}
    item = assemblies.get_item(Key={"orderId": "ord-2026-000481"})["Item"]
    assert item["requestId"] == "FR-AF82560B-7E00-5228-8572-707FE2FFC351"
    [announced] = bus_spy.events()
    assert (announced["source"], announced["detail-type"]) == ("storefront.fulfilment", "OrderAssembled")
    assert announced["detail"]["orderId"] == "ord-2026-000481"
    assert announced["detail"]["lines"][1] == {
        "sku": "TEA-EARL-GREY-250",
        "quantity": 1,
        "unitPriceCents": 650,
    }
    assert "shippingAddress" not in announced["detail"]


def test_a_request_sent_twice_is_assembled_and_announced_once(app, assemblies, bus_spy, lambda_context):
    # AssembleOrder's resend is a new SQS message (new messageId) with the same requestId: the
    # message that took the request announced it, the copy is dropped.
    app.lambda_handler(sqs_event(request(1)), lambda_context)
    first = assemblies.scan()["Items"]
    response = app.lambda_handler(sqs_event(request(1)), lambda_context)

    assert response == {"batchItemFailures": []}
    assert assemblies.scan()["Items"] == first
    assert bus_spy.detail_types() == ["OrderAssembled"]


def test_a_redelivered_batch_adds_no_assembly_and_announces_the_same_ids_again(
    app, assemblies, bus_spy, lambda_context
):
    batch = sqs_event(request(1), request(2))
    app.lambda_handler(batch, lambda_context)
    first, announced = assemblies.scan()["Items"], bus_spy.events()

    assert app.lambda_handler(batch, lambda_context) == {"batchItemFailures": []}

    assert len(first) == 2 and assemblies.scan()["Items"] == first
    assert sorted(e["detail"]["eventId"] for e in bus_spy.events()) == sorted(
        e["detail"]["eventId"] for e in announced
    )


def test_a_message_whose_announcement_was_refused_fails_and_its_retry_announces_it(
    app, assemblies, bus_spy, lambda_context, monkeypatch
):
    batch = sqs_event(request(1), request(2))
    put_events = app.bus._client.put_events

    def refuse_the_first(**call):
        answer = put_events(Entries=call["Entries"][1:])
        return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure"}, *answer["Entries"]]}

    monkeypatch.setattr(app.bus._client, "put_events", refuse_the_first)
    assert failed_ids(app.lambda_handler(batch, lambda_context)) == [batch["Records"][0]["messageId"]]
    monkeypatch.setattr(app.bus._client, "put_events", put_events)
    retry = {"Records": batch["Records"][:1]}
    assert app.lambda_handler(retry, lambda_context) == {"batchItemFailures": []}

    assert assemblies.scan()["Count"] == 2
    assert sorted(e["detail"]["orderId"] for e in bus_spy.events()) == ["o-1", "o-2"]


def test_a_batch_makes_one_put_a_message_and_one_put_events_per_ten(app, lambda_context, monkeypatch):
    batch = sqs_event(*(request(n) for n in range(1, 11)))

    with aws_calls(monkeypatch) as calls:
        assert app.lambda_handler(batch, lambda_context) == {"batchItemFailures": []}

    assert Counter(calls.made) == {("dynamodb", "PutItem"): 10, ("events", "PutEvents"): 1}


def test_another_request_for_an_assembled_order_is_dropped_not_failed(
    app, assemblies, bus_spy, lambda_context
):
    app.lambda_handler(sqs_event(request(1)), lambda_context)

    response = app.lambda_handler(sqs_event(request(1, request_id="FR-other")), lambda_context)

    assert response == {"batchItemFailures": []}
    assert assemblies.get_item(Key={"orderId": "o-1"})["Item"]["requestId"] == "FR-1"
    assert bus_spy.detail_types() == ["OrderAssembled"]


def test_a_copy_decides_on_the_assembly_its_failed_put_returns_without_a_read(
    app, assemblies, bus_spy, lambda_context, monkeypatch
):
    app.lambda_handler(sqs_event(request(1, request_id="FR-racer")), lambda_context)
    bus_spy.events()

    with aws_calls(monkeypatch) as calls:
        response = app.lambda_handler(sqs_event(request(1)), lambda_context)

    assert response == {"batchItemFailures": []}
    assert calls.made == [("dynamodb", "PutItem")]  # refused, with the racer's item: nothing to announce
    assert assemblies.get_item(Key={"orderId": "o-1"})["Item"]["requestId"] == "FR-racer"
    assert bus_spy.events() == []


def test_sample_mixed_batch_fails_exactly_its_malformed_messages(app, bus_spy, lambda_context):
    sample = sample_event("fulfil_order/assembly-requests-mixed-batch.json")

    response = app.lambda_handler(sample, lambda_context)

    assert failed_ids(response) == sorted(
        ["5e3a1c9d-7f2b-4a06-9c84-3b1d6e8f0a27", "9b4d2f61-3c8e-4a17-8d59-1e7f0b2c4a68"]
    )
    assert bus_spy.detail_types() == ["OrderAssembled"]  # the request and its resend: one assembly


def test_a_failed_message_is_logged_by_its_message_id_never_its_body(app, lambda_context, function_logs):
    logs = function_logs(app)
    event = sqs_event('{"requestId":"FR-9","orderId":"o-9","shippingAddress":"12 Marsh Lane"}')

    with pytest.raises(Exception, match="All records failed"):
        app.lambda_handler(event, lambda_context)

    written = logs.getvalue()
    assert event["Records"][0]["messageId"] in written
    assert "Marsh Lane" not in written


@pytest.mark.parametrize("fault", FAULTS)
def test_any_call_failing_then_the_retry_assembles_once_and_announces_one_event(
    app, assemblies, bus_spy, lambda_context, monkeypatch, fault
):
    tried = set()
    for trial in each_call_failing(
        monkeypatch, fault, app.lambda_handler, lambda n: sqs_event(request(n)), lambda_context
    ):
        assert trial.answer == {"batchItemFailures": []}, trial.failed
        tried.add(trial.failed)
        assert assemblies.get_item(Key={"orderId": f"o-{trial.n}"})["Item"]["requestId"] == f"FR-{trial.n}"
        # The retry announces again (no idempotency record answers it): the same event, which
        # consumers drop; a PutEvents resent by botocore adds one more copy.
        most = 3 if (fault, trial.failed) == ("resent", ("events", "PutEvents")) else 2
        announced = [e for e in bus_spy.events() if e["detail"]["orderId"] == f"o-{trial.n}"]
        assert 1 <= copies(announced) <= most
    assert {("dynamodb", "PutItem"), ("events", "PutEvents")} <= tried
