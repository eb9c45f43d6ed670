"""Decisions about a paid order: record it, open its sales ticket, ask fulfilment to assemble it.

PaymentCompleted carries the lines and the shipping address (event-carried state transfer), so
fulfilment gets everything in its request and no other service is asked. The announcement,
OrderAssemblyRequested, leaves the shipping address out: the bus is read by many, the address
is personal data that only fulfilment needs.

The fulfilment queue is a standard SQS queue: it has no deduplication, so the request is sent
once per order: the order is recorded first, and marked once its request is on the queue (a
failed mark is logged, not retried by failing the record; lambda_glue.remember_effect). A
redelivered payment resumes where the last attempt stopped and sends only while no mark is
stored. It sends twice only when SQS took the request but its answer was lost, when the process
dies between sending and marking, or when the mark and a later call (PutEvents, Powertools'
record) both fail; the copy is identical (same `requestId`, derived from the payment event, same
`requestedAt`) for fulfilment to drop.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from storefront.events import Address, OrderAssemblyRequested, OrderLine, PaymentCompleted
from storefront.sales import SalesTicket, open_ticket

ASSEMBLY_REQUESTED = "ASSEMBLY_REQUESTED"


@dataclass(frozen=True)
class Order:
    order_id: str
    customer_id: str
    payment_id: str
    amount_cents: int
    currency: str
    lines: tuple[OrderLine, ...]
    shipping_address: Address
    status: str
    paid_at: datetime
    recorded_at: datetime
    recorded_by_event_id: str
    fulfilment_request_id: str
    fulfilment_requested_at: datetime | None = None  # set once the request is on the queue


@dataclass(frozen=True)
class FulfilmentRequest:
    request_id: str
    order_id: str
    customer_id: str
    lines: tuple[OrderLine, ...]
    shipping_address: Address
    requested_at: datetime


@dataclass(frozen=True)
class Assembly:
    """The steps one payment still needs, in order; None for a step that is done already."""

    order: Order | None = None  # to record (only where no order is recorded)
    ticket: SalesTicket | None = None  # to open (never reopens a closed ticket)
    request: FulfilmentRequest | None = None  # to send, then mark on the order
    announcement: OrderAssemblyRequested | None = None


class OrderConflict(ValueError):
    """A payment for an order that another payment paid already: a person should look (double charge?)."""


def fulfilment_request_id(payment: PaymentCompleted) -> str:
    return "FR-" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"storefront:{payment.event_id}:fulfilment")).upper()


def assemble(payment: PaymentCompleted, current: Order | None, now: datetime) -> Assembly:
    """Decide the steps that assemble the paid order, given the order as recorded (None: not yet).

    - no order yet: every step;
    - recorded by this very event (a redelivery): the steps a crash may have left undone: the
      ticket (a no-op when open), the request unless marked sent, the same announcement;
    - recorded by another event of the same payment (the producer sent it twice): nothing, the
      first event's own retries finish the job;
    - recorded for another payment: OrderConflict, so the record goes to the failure queue.
    """
    if current is None:
        order = _order(payment, now)
        return Assembly(
            order=order,
            ticket=open_ticket(order.order_id, order.customer_id, payment.event_id, now),
            request=_request(order),
            announcement=_requested(payment, order),
        )
    if current.payment_id != payment.payment_id:
        raise OrderConflict(f"order {payment.order_id} is paid already by another payment")
    if current.recorded_by_event_id != payment.event_id:
        return Assembly()
    return Assembly(
        ticket=open_ticket(current.order_id, current.customer_id, payment.event_id, now),
        request=_request(current) if current.fulfilment_requested_at is None else None,
        announcement=_requested(payment, current),
    )


def _order(payment: PaymentCompleted, now: datetime) -> Order:
    return Order(
        order_id=payment.order_id,
        customer_id=payment.customer_id,
        payment_id=payment.payment_id,
        amount_cents=payment.amount_cents,
        currency=payment.currency,
        lines=payment.lines,
        shipping_address=payment.shipping_address,
        status=ASSEMBLY_REQUESTED,
        paid_at=payment.occurred_at,
        recorded_at=now,
        recorded_by_event_id=payment.event_id,
        fulfilment_request_id=fulfilment_request_id(payment),
    )


def _request(order: Order) -> FulfilmentRequest:
    # Stamped with the recording time, so a request sent again is the identical message.
    return FulfilmentRequest(
        request_id=order.fulfilment_request_id,
        order_id=order.order_id,
        customer_id=order.customer_id,
        lines=order.lines,
        shipping_address=order.shipping_address,
        requested_at=order.recorded_at,
    )


def _requested(payment: PaymentCompleted, order: Order) -> OrderAssemblyRequested:
    # Stamped with the recording time, so a re-announcement is the identical event.
    return OrderAssemblyRequested.caused_by(
        payment,
        at=order.recorded_at,
        order_id=order.order_id,
        customer_id=order.customer_id,
        lines=order.lines,
    )
