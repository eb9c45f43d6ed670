"""Closing sales tickets: pure decisions, no AWS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storefront.events import ShipmentArrived
from storefront.sales import CLOSED, OPEN, close_ticket, open_ticket

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def arrival(event_id: str = "shp-1") -> ShipmentArrived:
    return ShipmentArrived(
        event_id=event_id, occurred_at=NOW, order_id="o-1", shipment_id="ship-77", carrier="DPD"
    )


def test_open_ticket_is_closed_and_announced():
    ticket = open_ticket("o-1", "c-1", "pay-1", NOW)
    closing = close_ticket(arrival(), ticket, NOW)
    assert closing.ticket.status == CLOSED
    assert closing.ticket.customer_id == "c-1"
    assert closing.ticket.shipment_id == "ship-77"
    assert closing.announcement.order_id == "o-1"
    assert closing.announcement.shipment_id == "ship-77"


def test_missing_ticket_is_created_closed():
    closing = close_ticket(arrival(), None, NOW)
    assert closing.ticket.status == CLOSED
    assert closing.ticket.order_id == "o-1"
    assert closing.ticket.opened_at is None
    assert closing.announcement is not None


def test_ticket_closed_by_another_arrival_stays_and_is_not_announced_again():
    closed = close_ticket(arrival("shp-1"), open_ticket("o-1", "c-1", "pay-1", NOW), NOW).ticket
    closing = close_ticket(arrival("shp-2"), closed, NOW)
    assert closing.ticket is None
    assert closing.announcement is None


def test_redelivered_arrival_announces_the_same_event_again():
    first = close_ticket(arrival(), open_ticket("o-1", "c-1", "pay-1", NOW), NOW)
    again = close_ticket(arrival(), first.ticket, NOW + timedelta(minutes=5))
    assert again.ticket is None
    assert again.announcement == first.announcement


def test_opened_ticket_is_open():
    ticket = open_ticket("o-1", "c-1", "pay-1", NOW)
    assert ticket.status == OPEN
    assert ticket.opened_by_event_id == "pay-1"
