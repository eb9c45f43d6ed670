"""Decisions about a paid order: record it, open its sales ticket, ask fulfilment to assemble it.

PaymentCompleted carries the lines and the shipping address (event-carried state transfer), so
fulfilment gets everything in its request and no other service is asked. The announcement,
OrderAssemblyRequested, leaves the shipping address out: the bus is read by many, the address
is personal data that only fulfilment needs.

The order and its opened ticket are written together, in one transaction (the orders adapter),
so an order recorded means its ticket opened: a redelivered payment has no ticket to open.

The fulfilment queue is a standard SQS queue, with no deduplication, and the request is not marked
sent: a redelivered payment that finds its own order recorded sends the request again. The copy is
identical (same `requestId`, derived from the payment event, same `requestedAt`) and harmless:
the fulfilment centre takes one request per order, by the order's own record, for as long as the
order exists (storefront.fulfilment_centre). A mark would cost a write per order to save a second
message only on the rare redelivery.
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
    ticket: SalesTicket | None = None  # to open with the order (never reopens a closed ticket)
    request: FulfilmentRequest | None = None  # to send
    announcement: OrderAssemblyRequested | None = None


class OrderConflict(ValueError):
    """A payment for an order that another payment paid already: a person should look (double charge?)."""


def fulfilment_request_id(payment: PaymentCompleted) -> str:
    return "FR-" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"storefront:{payment.event_id}:fulfilment")).upper()


def assemble(payment: PaymentCompleted, current: Order | None, now: datetime) -> Assembly:
    """Decide the steps that assemble the paid order, given the order as recorded (None: not yet).

    - no order yet: every step;
    - recorded by this very event (a redelivery): the steps a crash may have left undone: the
      identical request and the same announcement (the ticket was opened with the order);
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
    return Assembly(request=_request(current), announcement=_requested(payment, current))


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
