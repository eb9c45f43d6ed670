"""CloseSalesTicket: ShipmentArrived on Kafka -> the order's sales ticket CLOSED and TicketClosed on the bus."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError

from storefront.events import ShipmentArrived
from tests.support.aws_faults import FAULTS, aws_calls, copies, each_call_failing
from tests.support.kafka import failed_offsets, msk_event, record
from tests.support.refusals import refusing_the_last
from tests.support.stack import sample_event

TOPIC = "shipments"


def arrived(n: int, order_id: str | None = None) -> ShipmentArrived:
    return ShipmentArrived(
        event_id=f"shp-evt-{n}",
        occurred_at=datetime(2026, 11, 26, 9, n, tzinfo=UTC),
        order_id=order_id or f"o-{n}",
        shipment_id=f"SHP-DPD-{15501870 + n}",
        carrier="DPD",
    )


@pytest.fixture
def app(handler):
    return handler("CloseSalesTicket")


@pytest.fixture
def tickets(provisioned):
    table = boto3.resource("dynamodb").Table(provisioned.physical_names["SalesTicketsTable"])
    for n in (1, 2):
        table.put_item(
            Item={"orderId": f"o-{n}", "status": "OPEN", "customerId": f"c-{n}", "openedAt": "2026-11-25"}
        )
    return table


def test_arrival_closes_the_open_ticket_and_announces_it(app, tickets, bus_spy, lambda_context):
    response = app.lambda_handler(msk_event(record(TOPIC, arrived(1))), lambda_context)

    assert response == {"batchItemFailures": []}
    ticket = tickets.get_item(Key={"orderId": "o-1"})["Item"]
    assert ticket["status"] == "CLOSED"
    assert ticket["shipmentId"] == "SHP-DPD-15501871"
    assert ticket["customerId"] == "c-1"
    assert tickets.get_item(Key={"orderId": "o-2"})["Item"]["status"] == "OPEN"
    [announced] = bus_spy.events()
    assert announced["detail-type"] == "TicketClosed"
    assert announced["source"] == "storefront.sales"
    assert announced["detail"]["orderId"] == "o-1"
    assert announced["detail"]["shipmentId"] == "SHP-DPD-15501871"


def test_arrival_before_the_ticket_opened_creates_it_closed(app, tickets, bus_spy, lambda_context):
    app.lambda_handler(msk_event(record(TOPIC, arrived(7))), lambda_context)

    assert tickets.get_item(Key={"orderId": "o-7"})["Item"]["status"] == "CLOSED"
    assert bus_spy.detail_types() == ["TicketClosed"]


def test_redelivered_batch_adds_nothing_and_announces_the_same_events_again(
    app, tickets, bus_spy, lambda_context
):
    batch = msk_event(record(TOPIC, arrived(1)), record(TOPIC, arrived(2)))
    app.lambda_handler(batch, lambda_context)
    stored, first = tickets.scan()["Items"], bus_spy.events()

    response = app.lambda_handler(batch, lambda_context)

    assert response == {"batchItemFailures": []}
    assert tickets.scan()["Items"] == stored
    assert {item["status"] for item in stored} == {"CLOSED"}
    # The same ids (subscribers dedupe on them), stamped with the tickets' closing time again.
    assert [e["detail"] for e in bus_spy.events()] == [e["detail"] for e in first]
    assert len(first) == 2


def test_second_arrival_for_a_closed_ticket_changes_nothing(app, tickets, bus_spy, lambda_context):
    second = arrived(3, order_id="o-1")

    app.lambda_handler(msk_event(record(TOPIC, arrived(1)), record(TOPIC, second)), lambda_context)

    assert tickets.get_item(Key={"orderId": "o-1"})["Item"]["closedByEventId"] == "shp-evt-1"
    assert bus_spy.detail_types() == ["TicketClosed"]


def test_retry_after_the_bus_was_unreachable_announces_the_same_event(
    app, tickets, bus_spy, lambda_context, monkeypatch
):
    def bus_down(**request):
        raise EndpointConnectionError(endpoint_url="https://events.us-east-1.amazonaws.com/")

    batch = msk_event(one := record(TOPIC, arrived(1)))
    with monkeypatch.context() as patch:
        patch.setattr(app.bus._client, "put_events", bus_down)
        assert failed_offsets(app.lambda_handler(batch, lambda_context)) == [one.offset]
    assert tickets.get_item(Key={"orderId": "o-1"})["Item"]["status"] == "CLOSED"

    response = app.lambda_handler(batch, lambda_context)

    assert response == {"batchItemFailures": []}
    assert bus_spy.detail_types() == ["TicketClosed"]


def test_record_whose_announcement_was_refused_is_retried_and_ends_closed_once_and_announced(
    app, tickets, bus_spy, lambda_context, monkeypatch
):
    batch = msk_event(record(TOPIC, arrived(1)), refused := record(TOPIC, arrived(2)))
    with monkeypatch.context() as patch:
        patch.setattr(app.bus._client, "put_events", refusing_the_last(app.bus._client.put_events))
        assert failed_offsets(app.lambda_handler(batch, lambda_context)) == [refused.offset]
    closed = tickets.get_item(Key={"orderId": "o-2"})["Item"]

    assert app.lambda_handler(msk_event(refused), lambda_context) == {"batchItemFailures": []}

    assert tickets.get_item(Key={"orderId": "o-2"})["Item"] == closed
    announced = bus_spy.events()
    assert sorted(e["detail"]["orderId"] for e in announced) == ["o-1", "o-2"]
    assert announced[-1]["detail"]["occurredAt"].startswith(closed["closedAt"][:19])


def test_a_batch_costs_one_write_a_record_and_one_put_events_per_ten(app, lambda_context, monkeypatch):
    batch = msk_event(*(record(TOPIC, arrived(n)) for n in range(1, 11)))
    with aws_calls(monkeypatch) as calls:
        app.lambda_handler(batch, lambda_context)
        first = Counter(calls.made)
        app.lambda_handler(batch, lambda_context)  # redelivered: each close refused, all announced again

    assert first == {("dynamodb", "UpdateItem"): 10, ("events", "PutEvents"): 1}
    assert Counter(calls.made) - first == first


def test_malformed_record_is_reported_and_the_rest_applied(app, tickets, bus_spy, lambda_context):
    good, bad = record(TOPIC, arrived(1)), record(TOPIC, b"{not json", key="o-2")

    response = app.lambda_handler(msk_event(good, bad), lambda_context)

    assert failed_offsets(response) == [bad.offset]
    assert tickets.get_item(Key={"orderId": "o-1"})["Item"]["status"] == "CLOSED"
    assert tickets.get_item(Key={"orderId": "o-2"})["Item"]["status"] == "OPEN"
    assert bus_spy.detail_types() == ["TicketClosed"]


def test_sample_mixed_batch_fails_only_its_malformed_records(app, tickets, bus_spy, lambda_context):
    response = app.lambda_handler(
        sample_event("close_sales_ticket/shipment-arrived-mixed-batch.json"), lambda_context
    )

    assert failed_offsets(response) == [915, 916]
    assert sorted(e["detail"]["orderId"] for e in bus_spy.events()) == ["ord-2026-000482", "ord-2026-000485"]


def test_record_values_never_reach_the_logs(app, tickets, lambda_context, debug_logs):
    leaky = b'{"eventType": "ShipmentArrived", "orderId": "o-1", "carrier": "courier Ada Byron 07700 900123"}'

    app.lambda_handler(msk_event(record(TOPIC, arrived(2)), record(TOPIC, leaky, key="o-1")), lambda_context)

    written = debug_logs.getvalue()
    assert "sales ticket closed" in written  # the per-record DEBUG lines were caught
    assert "record failed" in written
    assert "07700 900123" not in written


@pytest.mark.parametrize("fault", FAULTS)
def test_any_call_failing_then_the_retry_closes_the_ticket_and_announces_one_event(
    app, tickets, bus_spy, lambda_context, monkeypatch, fault
):
    def batch(n: int) -> dict:
        return msk_event(record(TOPIC, arrived(10 + n)))

    tried = set()
    for trial in each_call_failing(monkeypatch, fault, app.lambda_handler, batch, lambda_context):
        n, failed, response = trial.n, trial.failed, trial.answer
        tried.add(failed)
        assert response == {"batchItemFailures": []}, failed
        ticket = tickets.get_item(Key={"orderId": f"o-{10 + n}"})["Item"]
        assert (ticket["status"], ticket["closedByEventId"]) == ("CLOSED", f"shp-evt-{10 + n}"), failed
        # The retry announces again (a third copy when PutEvents itself was resent): the same event,
        # which consumers drop.
        announced = [e for e in bus_spy.events() if e["detail"]["orderId"] == f"o-{10 + n}"]
        assert 1 <= copies(announced) <= 2 + trial.repeats(("events", "PutEvents")), failed
    assert {("dynamodb", "UpdateItem"), ("events", "PutEvents")} <= tried
