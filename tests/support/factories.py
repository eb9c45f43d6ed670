"""Storefront events for tests: one factory per topic event, fixed ids and times.

Every factory takes the minute of the business day (2026-11-26, UTC) the event happens at, so a
test can say "at 09:05" and the record's timestamp follows.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from storefront.events import (
    AccessDenied,
    AccountRequested,
    Address,
    DomainEvent,
    InventoryUpdated,
    LoginSucceeded,
    OrderLine,
    PaymentCompleted,
    ShipmentArrived,
)
from storefront.read_model import SourceRecord

DAY = datetime(2026, 11, 26, tzinfo=UTC)


def at(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return DAY + timedelta(hours=hour, minutes=minute, seconds=second)


def account_requested(customer: str, when: datetime, *, event_id: str | None = None) -> AccountRequested:
    return AccountRequested(
        event_id=event_id or f"req-{customer}",
        occurred_at=when,
        customer_id=customer,
        email=f"{customer}@example.com",
        full_name=f"Customer {customer}",
        password_hash=f"$argon2id$v=19$secret-{customer}",
        marketing_opt_in=customer.endswith("1"),
    )


def account_requested_v1(customer: str, when: datetime) -> bytes:
    """The wire form of schema version 1: a single `name` and no marketing consent."""
    wire = account_requested(customer, when, event_id=f"req-v1-{customer}").to_wire()
    wire["schemaVersion"] = 1
    wire["name"] = wire.pop("fullName")
    del wire["marketingOptIn"]
    return json.dumps(wire).encode()


def access_denied(customer: str, when: datetime, n: int) -> AccessDenied:
    return AccessDenied(
        event_id=f"denied-{customer}-{n}", occurred_at=when, customer_id=customer, source_ip="203.0.113.7"
    )


def login(customer: str, when: datetime) -> LoginSucceeded:
    return LoginSucceeded(
        event_id=f"login-{customer}-{when:%H%M}",
        occurred_at=when,
        customer_id=customer,
        source_ip="198.51.100.4",
    )


def inventory(sku: str, when: datetime, on_hand: int, *, warehouse: str = "WH-1") -> InventoryUpdated:
    return InventoryUpdated(
        event_id=f"count-{sku}-{when:%H%M}",
        occurred_at=when,
        sku=sku,
        warehouse_id=warehouse,
        on_hand=on_hand,
        reorder_point=10,
        reorder_quantity=50,
    )


def payment(order: str, customer: str, when: datetime, *, payment_id: str | None = None) -> PaymentCompleted:
    return PaymentCompleted(
        event_id=f"pay-{order}-{payment_id or 1}",
        occurred_at=when,
        order_id=order,
        customer_id=customer,
        payment_id=payment_id or f"P-{order}",
        amount_cents=4_598,
        currency="EUR",
        lines=(
            OrderLine(sku="MUG-BLUE", quantity=2, unit_price_cents=1_299),
            OrderLine(sku="TEA-EARL-GREY", quantity=1, unit_price_cents=2_000),
        ),
        shipping_address=Address(
            name="Ada Lovelace",
            line1="12 St James's Square",
            city="London",
            postal_code="SW1Y 4JH",
            country="GB",
        ),
    )


def arrival(order: str, when: datetime) -> ShipmentArrived:
    return ShipmentArrived(
        event_id=f"arrived-{order}", occurred_at=when, order_id=order, shipment_id=f"S-{order}", carrier="DHL"
    )


def source_record(
    topic: str, event: DomainEvent | bytes, offset: int, *, partition: int = 0, when: datetime | None = None
) -> SourceRecord:
    """The record as Kafka holds it; its timestamp is the event's time (CreateTime)."""
    if isinstance(event, DomainEvent):
        value, when = event.to_json().encode(), when or event.occurred_at
    else:
        value, when = event, when or DAY
    return SourceRecord(topic, partition, offset, int(when.timestamp() * 1000), value)


def requested(n: int) -> AccountRequested:
    """The n-th customer's account request, at 09:0n on 2026-11-26."""
    return AccountRequested(
        event_id=f"req-{n}",
        occurred_at=datetime(2026, 11, 26, 9, n, tzinfo=UTC),
        customer_id=f"c-{n}",
        email=f"customer{n}@example.com",
        full_name=f"Customer {n}",
        password_hash=f"$argon2id$v=19$hash-{n}",
    )
