"""AssembleOrder: PaymentCompleted on Kafka -> the order and its open sales ticket in DynamoDB, one
fulfilment request on SQS and OrderAssemblyRequested on the bus."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import boto3
import pytest

from storefront.events import Address, OrderLine, PaymentCompleted
from tests.support.aws_faults import FAULTS, aws_calls, copies, each_call_failing
from tests.support.kafka import failed_offsets, msk_event, record
from tests.support.stack import sample_event

TOPIC = "payments"


def paid(n: int, payment_id: str | None = None) -> PaymentCompleted:
    return PaymentCompleted(
        event_id=f"pay-evt-{n}",
        occurred_at=datetime(2026, 11, 26, 9, n, tzinfo=UTC),
        order_id=f"o-{n}",
        customer_id=f"c-{n}",
        payment_id=payment_id or f"pi-{n}",
        amount_cents=2598,
        currency="GBP",
        lines=(OrderLine(sku="MUG-BLUE-350", quantity=2, unit_price_cents=1299),),
        shipping_address=Address(
            name="Ada Byron", line1="12 Marsh Lane", city="Leeds", postal_code="LS6 2QE", country="GB"
        ),
    )


@pytest.fixture
def app(handler):
    return handler("AssembleOrder")


@pytest.fixture
def orders(provisioned):
    return boto3.resource("dynamodb").Table(provisioned.physical_names["OrdersTable"])


@pytest.fixture
def tickets(provisioned):
    return boto3.resource("dynamodb").Table(provisioned.physical_names["SalesTicketsTable"])


def test_paid_order_is_recorded_ticketed_sent_to_fulfilment_and_announced(
    app, orders, tickets, queue, bus_spy, lambda_context
):
    response = app.lambda_handler(msk_event(record(TOPIC, paid(1))), lambda_context)

    assert response == {"batchItemFailures": []}
    order = orders.get_item(Key={"orderId": "o-1"})["Item"]
    assert order["paymentId"] == "pi-1"
    ticket = tickets.get_item(Key={"orderId": "o-1"})["Item"]
    assert (ticket["status"], ticket["openedByEventId"]) == ("OPEN", "pay-evt-1")
    [request] = queue("FulfilmentRequestsQueue")
    assert request["orderId"] == "o-1"
    assert request["requestId"] == order["fulfilmentRequestId"]
    assert request["lines"] == [{"sku": "MUG-BLUE-350", "quantity": 2, "unitPriceCents": 1299}]
    assert request["shippingAddress"]["postalCode"] == "LS6 2QE"
    [announced] = bus_spy.events()
    assert announced["detail-type"] == "OrderAssemblyRequested"
    assert announced["source"] == "storefront.fulfilment"
    assert announced["detail"]["orderId"] == "o-1"
    assert "shippingAddress" not in announced["detail"]


def _by_id(events: list[dict]) -> list[dict]:
    return sorted((e["detail"] for e in events), key=lambda detail: detail["eventId"])


def test_redelivered_batch_records_nothing_new_and_repeats_its_identical_requests_and_announcements(
    app, orders, tickets, queue, bus_spy, lambda_context
):
    # No mark: the copies are identical (same requestId), and FulfilOrder takes one request per
    # order; the announcements keep their ids, which subscribers dedupe on.
    batch = msk_event(record(TOPIC, paid(1)), record(TOPIC, paid(2)))
    app.lambda_handler(batch, lambda_context)
    first = (
        orders.scan()["Items"],
        tickets.scan()["Items"],
        queue("FulfilmentRequestsQueue"),
        bus_spy.events(),
    )

    assert app.lambda_handler(batch, lambda_context) == {"batchItemFailures": []}

    stored_orders, stored_tickets, requests, announced = first
    assert len(stored_orders) == len(requests) == len(announced) == 2
    assert orders.scan()["Items"] == stored_orders
    assert tickets.scan()["Items"] == stored_tickets
    assert sorted(map(str, queue("FulfilmentRequestsQueue"))) == sorted(map(str, requests))
    assert _by_id(bus_spy.events()) == _by_id(announced)


def test_a_record_whose_request_was_not_taken_fails_announces_nothing_and_its_retry_finishes(
    app, orders, queue, bus_spy, lambda_context, monkeypatch
):
    batch = msk_event(first := record(TOPIC, paid(1)), record(TOPIC, paid(2)))
    send_all = app.fulfilment.send_all

    def refuse_the_first(requests):
        taken = send_all(requests[1:])
        return {0: "InternalError", **{i + 1: code for i, code in taken.items()}}

    monkeypatch.setattr(app.fulfilment, "send_all", refuse_the_first)
    assert failed_offsets(app.lambda_handler(batch, lambda_context)) == [first.offset]
    assert [e["detail"]["orderId"] for e in bus_spy.events()] == ["o-2"]  # o-1 was not requested
    monkeypatch.setattr(app.fulfilment, "send_all", send_all)
    assert app.lambda_handler(msk_event(first), lambda_context) == {"batchItemFailures": []}

    assert sorted(r["orderId"] for r in queue("FulfilmentRequestsQueue")) == ["o-1", "o-2"]
    assert [e["detail"]["orderId"] for e in bus_spy.events()] == ["o-1"]
    assert orders.scan()["Count"] == 2


def test_a_record_whose_announcement_was_refused_is_retried_and_ends_with_one_order_announced(
    app, orders, queue, bus_spy, lambda_context, monkeypatch
):
    batch = msk_event(first := record(TOPIC, paid(1)), record(TOPIC, paid(2)))
    put_events = app.bus._client.put_events

    def refuse_the_first(**request):
        answer = put_events(Entries=request["Entries"][1:])
        return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure"}, *answer["Entries"]]}

    monkeypatch.setattr(app.bus._client, "put_events", refuse_the_first)
    assert failed_offsets(app.lambda_handler(batch, lambda_context)) == [first.offset]
    assert [e["detail"]["orderId"] for e in bus_spy.events()] == ["o-2"]
    monkeypatch.setattr(app.bus._client, "put_events", put_events)
    assert app.lambda_handler(msk_event(first), lambda_context) == {"batchItemFailures": []}

    assert [i["orderId"] for i in orders.scan()["Items"] if i["orderId"] == "o-1"] == ["o-1"]
    assert [e["detail"]["orderId"] for e in bus_spy.events()] == ["o-1"]
    requests = [r for r in queue("FulfilmentRequestsQueue") if r["orderId"] == "o-1"]
    assert len(requests) == 2 and requests[0] == requests[1]  # sent by both tries: the same request


def test_a_batch_makes_one_write_a_record_and_one_send_and_one_put_events_per_ten_records(
    app, lambda_context, monkeypatch
):
    batch = msk_event(*(record(TOPIC, paid(n)) for n in range(1, 11)))

    with aws_calls(monkeypatch) as calls:
        assert app.lambda_handler(batch, lambda_context) == {"batchItemFailures": []}

    assert Counter(calls.made) == {
        ("dynamodb", "TransactWriteItems"): 10,
        ("sqs", "SendMessageBatch"): 1,
        ("events", "PutEvents"): 1,
    }


def test_ticket_closed_before_the_payment_is_read_stays_closed(app, tickets, lambda_context):
    tickets.put_item(Item={"orderId": "o-1", "status": "CLOSED", "closedByEventId": "shp-1"})

    app.lambda_handler(msk_event(record(TOPIC, paid(1))), lambda_context)

    ticket = tickets.get_item(Key={"orderId": "o-1"})["Item"]
    assert ticket["status"] == "CLOSED"
    assert ticket["customerId"] == "c-1"


def test_second_payment_for_a_paid_order_fails_that_record_only(app, orders, queue, lambda_context):
    first = paid(1)
    other = first.model_copy(update={"event_id": "pay-evt-other", "payment_id": "pi-other"})

    response = app.lambda_handler(
        msk_event(record(TOPIC, first), conflict := record(TOPIC, other)), lambda_context
    )

    assert failed_offsets(response) == [conflict.offset]
    assert orders.get_item(Key={"orderId": "o-1"})["Item"]["paymentId"] == "pi-1"
    assert len(queue("FulfilmentRequestsQueue")) == 1


def test_malformed_record_is_reported_and_the_rest_applied(app, orders, bus_spy, lambda_context):
    good, bad = record(TOPIC, paid(1)), record(TOPIC, b"{not json", key="o-9")

    response = app.lambda_handler(msk_event(good, bad), lambda_context)

    assert failed_offsets(response) == [bad.offset]
    assert orders.get_item(Key={"orderId": "o-1"}).get("Item") is not None
    assert bus_spy.detail_types() == ["OrderAssemblyRequested"]


def test_sample_mixed_batch_fails_only_its_malformed_records(app, orders, queue, lambda_context):
    response = app.lambda_handler(
        sample_event("assemble_order/payment-completed-mixed-batch.json"), lambda_context
    )

    assert failed_offsets(response) == [1504, 1505]
    assert sorted(r["orderId"] for r in queue("FulfilmentRequestsQueue")) == [
        "ord-2026-000482",
        "ord-2026-000485",
    ]


def test_shipping_address_never_reaches_the_logs(app, lambda_context, debug_logs):
    app.lambda_handler(msk_event(record(TOPIC, paid(1)), record(TOPIC, b"\xff")), lambda_context)
    written = debug_logs.getvalue()
    assert "order assembly requested" in written  # the per-record DEBUG lines were caught
    assert "Marsh Lane" not in written
    assert "LS6 2QE" not in written


# --- each AWS call failing in turn, then the retry ---------------------------------------------


@pytest.mark.parametrize("fault", FAULTS)
def test_any_call_failing_then_the_retry_repeats_only_identical_requests_and_announcements(
    app, queue, bus_spy, lambda_context, monkeypatch, fault
):
    def batch(n: int) -> dict:
        return msk_event(record(TOPIC, paid(n)))

    tried = set()
    for trial in each_call_failing(monkeypatch, fault, app.lambda_handler, batch, lambda_context):
        n, failed, response = trial.n, trial.failed, trial.answer
        tried.add(failed)
        assert response == {"batchItemFailures": []}, failed
        requests = [r for r in queue("FulfilmentRequestsQueue") if r["orderId"] == f"o-{n}"]
        # Every try that got past the send sent the request (no mark): identical copies, which
        # FulfilOrder takes once; a failure before anything was written leaves one.
        assert requests and all(r == requests[0] for r in requests), failed
        if failed == ("dynamodb", "TransactWriteItems") and fault in ("refused", "crash"):
            assert len(requests) == 1, failed
        # The retry announces again (no idempotency record answers it): the same event, which
        # consumers drop; a PutEvents resent by botocore adds one more copy.
        most = 3 if (fault, failed) == ("resent", ("events", "PutEvents")) else 2
        assert 1 <= copies([e for e in bus_spy.events() if e["detail"]["orderId"] == f"o-{n}"]) <= most
    # The effects were among the calls failed.
    assert {("sqs", "SendMessageBatch"), ("events", "PutEvents")} <= tried
