"""Decisions of the fulfilment centre: take each assembly request once per order, announce OrderAssembled.

The requests come on FulfilmentRequestsQueue, a standard SQS queue: delivered at least once, and
sent again by AssembleOrder whenever a payment is redelivered (same `requestId`, a new message;
storefront.fulfilment). So an order is assembled once whatever arrives: the first request recorded
for an order is the one taken, with the SQS message that carried it. That message's redelivery
announces the same OrderAssembled again (same id, stamped with the recorded time): its first
delivery may have died between the write and the announcement. Any other message for the order, a
copy of the request included, is dropped: the message that took the request announces, and SQS
delivers it again until it has (up to the queue's maxReceiveCount, then to its dead-letter queue,
where a person looks). A copy announcing too would put a second OrderAssembled on the bus for
every redelivered payment.

Why not a FIFO queue with content deduplication: SQS drops a duplicate only within its five-minute
deduplication interval ("Exactly-once processing in Amazon SQS", Amazon SQS Developer Guide,
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-queues-exactly-once-processing.html),
while a payment redelivered after a failure can resend its request hours later; the order's own
record dedupes for as long as the order exists, on the standard queue AssembleOrder already uses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from pydantic import AwareDatetime, ValidationError

from storefront.events import (
    Address,
    MalformedEvent,
    OrderAssembled,
    OrderLine,
    WireModel,
    announcement_id,
    validation_problems,
)
from storefront.fulfilment import FulfilmentRequest


@dataclass(frozen=True)
class Assembly:
    """An order the fulfilment centre assembled, and the request it took."""

    order_id: str
    customer_id: str
    request_id: str
    lines: tuple[OrderLine, ...]
    assembled_at: datetime
    message_id: str | None = None  # the SQS message that carried the request taken (None: not known)


@dataclass(frozen=True)
class Taking:
    assembly: Assembly | None  # to record (only where the order has none)
    announcement: OrderAssembled | None  # None: another request for this order was taken


class _RequestMessage(WireModel):
    # The body storefront.adapters.fulfilment.message_body writes.
    request_id: str
    order_id: str
    customer_id: str
    lines: tuple[OrderLine, ...]
    shipping_address: Address
    requested_at: AwareDatetime


def assembly_request(body: str) -> FulfilmentRequest:
    """The request in an SQS message body; MalformedEvent names the fields, never their values."""
    try:
        message = _RequestMessage.model_validate(json.loads(body))
    except json.JSONDecodeError as error:
        raise MalformedEvent(f"assembly request is not JSON (position {error.pos})") from None
    except ValidationError as error:
        raise MalformedEvent(f"invalid assembly request: {validation_problems(error)}") from None
    return FulfilmentRequest(
        request_id=message.request_id,
        order_id=message.order_id,
        customer_id=message.customer_id,
        lines=message.lines,
        shipping_address=message.shipping_address,
        requested_at=message.requested_at,
    )


def take(
    request: FulfilmentRequest, recorded: Assembly | None, now: datetime, message_id: str | None = None
) -> Taking:
    """What the request, carried by SQS message `message_id`, does, given the order's assembly as
    recorded (None: not assembled yet)."""
    if recorded is None:
        assembly = Assembly(
            order_id=request.order_id,
            customer_id=request.customer_id,
            request_id=request.request_id,
            lines=request.lines,
            assembled_at=now,
            message_id=message_id,
        )
        return Taking(assembly=assembly, announcement=_assembled(assembly))
    # The message that took the request, again (or an assembly recorded without its message):
    # finish what it started.
    if recorded.request_id == request.request_id and recorded.message_id in (None, message_id):
        return Taking(assembly=None, announcement=_assembled(recorded))
    return Taking(assembly=None, announcement=None)


def _assembled(assembly: Assembly) -> OrderAssembled:
    return OrderAssembled(
        event_id=announcement_id(assembly.request_id, "OrderAssembled"),
        occurred_at=assembly.assembled_at,
        order_id=assembly.order_id,
        customer_id=assembly.customer_id,
        request_id=assembly.request_id,
        lines=assembly.lines,
    )
