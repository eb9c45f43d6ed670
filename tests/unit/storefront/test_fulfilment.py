"""Assembling paid orders: pure decisions, no AWS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storefront.events import Address, OrderLine, PaymentCompleted
from storefront.fulfilment import OrderConflict, assemble
from storefront.sales import OPEN

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def payment(event_id: str = "pay-evt-1", payment_id: str = "pay-1") -> PaymentCompleted:
    return PaymentCompleted(
        event_id=event_id,
        occurred_at=NOW,
        order_id="o-1",
        customer_id="c-1",
        payment_id=payment_id,
        amount_cents=2598,
        currency="GBP",
        lines=(OrderLine(sku="MUG-BLUE-350", quantity=2, unit_price_cents=1299),),
        shipping_address=Address(
            name="Ann Lee", line1="1 High St", city="Leeds", postal_code="LS1 1AA", country="GB"
        ),
    )


def test_new_payment_records_the_order_opens_the_ticket_and_requests_assembly():
    assembly = assemble(payment(), current=None, now=NOW)
    assert assembly.order.payment_id == "pay-1"
    assert assembly.ticket.status == OPEN
    assert assembly.request.shipping_address.city == "Leeds"
    assert assembly.request.request_id == assembly.order.fulfilment_request_id
    assert assembly.announcement.order_id == "o-1"


def test_announcement_leaves_the_shipping_address_out():
    assembly = assemble(payment(), current=None, now=NOW)
    wire = assembly.announcement.to_wire()
    assert "shippingAddress" not in wire
    assert "1 High St" not in str(wire)


def test_redelivery_sends_the_identical_request_and_announces_the_same_event():
    # Not marked sent: the copy, same id and time, is one the fulfilment centre takes once per order.
    first = assemble(payment(), current=None, now=NOW)
    again = assemble(payment(), current=first.order, now=NOW + timedelta(minutes=5))
    assert again.order is None
    assert again.request == first.request
    assert again.announcement == first.announcement


def test_redelivery_opens_no_ticket_as_the_order_was_recorded_with_it():
    first = assemble(payment(), current=None, now=NOW)
    again = assemble(payment(), current=first.order, now=NOW + timedelta(minutes=5))
    assert again.ticket is None


def test_same_payment_in_another_event_does_nothing():
    first = assemble(payment("pay-evt-1"), current=None, now=NOW)
    duplicate = assemble(payment("pay-evt-2"), current=first.order, now=NOW)
    assert duplicate.order is None
    assert duplicate.request is None
    assert duplicate.ticket is None
    assert duplicate.announcement is None


def test_another_payment_for_a_recorded_order_is_a_conflict():
    first = assemble(payment(), current=None, now=NOW)
    with pytest.raises(OrderConflict, match="o-1"):
        assemble(payment("pay-evt-2", payment_id="pay-2"), current=first.order, now=NOW)


def test_request_id_differs_per_payment_event():
    one = assemble(payment("pay-evt-1"), current=None, now=NOW)
    two = assemble(payment("pay-evt-2"), current=None, now=NOW)
    assert one.request.request_id != two.request.request_id
