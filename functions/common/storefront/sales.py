"""Decisions about sales tickets: one per order, opened when the order is paid, closed when it arrives.

Opening (AssembleOrder, `payments` topic) and closing (CloseSalesTicket, `shipments` topic) are
done by two consumer groups on two topics, and Kafka orders events only within one partition of
one topic: the arrival may be read before the payment. So closing never waits for the ticket:

- an OPEN ticket is closed;
- a ticket that does not exist yet is created CLOSED. Waiting instead would mean failing the
  record until the payments consumer catches up, and after the mapping's few retries the arrival
  would land in the failure queue though nothing is wrong. Opening only fills in the opening
  details of a ticket that is closed already and never reopens it, so the ticket ends CLOSED
  whichever consumer runs first;
- a CLOSED ticket stays as it is and nothing is announced again, except when it was closed by
  this very arrival (a redelivery): then the same TicketClosed is announced again, so a crash
  between closing and announcing loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from storefront.events import ShipmentArrived, TicketClosed

OPEN = "OPEN"
CLOSED = "CLOSED"


@dataclass(frozen=True)
class SalesTicket:
    order_id: str
    status: str  # OPEN or CLOSED
    customer_id: str | None = None  # unknown while a ticket closed before it opened
    opened_at: datetime | None = None
    opened_by_event_id: str | None = None
    closed_at: datetime | None = None
    closed_by_event_id: str | None = None
    shipment_id: str | None = None


@dataclass(frozen=True)
class TicketClosing:
    """What one arrival does: the ticket to store closed (None: leave it) and what to announce."""

    ticket: SalesTicket | None = None
    announcement: TicketClosed | None = None


def open_ticket(order_id: str, customer_id: str, opened_by_event_id: str, now: datetime) -> SalesTicket:
    """The ticket a paid order opens. Stored only where no opening is recorded (never reopens)."""
    return SalesTicket(
        order_id=order_id,
        status=OPEN,
        customer_id=customer_id,
        opened_at=now,
        opened_by_event_id=opened_by_event_id,
    )


def close_ticket(arrival: ShipmentArrived, current: SalesTicket | None, now: datetime) -> TicketClosing:
    """Close the order's ticket on the shipment's arrival; see the module docstring for the cases."""
    if current is not None and current.status == CLOSED:
        if current.closed_by_event_id == arrival.event_id:
            return TicketClosing(announcement=_closed(arrival, current))
        return TicketClosing()
    closed = replace(
        current or SalesTicket(order_id=arrival.order_id, status=OPEN),
        status=CLOSED,
        closed_at=now,
        closed_by_event_id=arrival.event_id,
        shipment_id=arrival.shipment_id,
    )
    return TicketClosing(ticket=closed, announcement=_closed(arrival, closed))


def _closed(arrival: ShipmentArrived, ticket: SalesTicket) -> TicketClosed:
    # Stamped with the closing time, so a re-announcement is the identical event.
    return TicketClosed.caused_by(
        arrival, at=ticket.closed_at, order_id=ticket.order_id, shipment_id=ticket.shipment_id
    )
