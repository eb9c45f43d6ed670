"""Sales tickets stored in DynamoDB (one item per order), opened and closed by conditional updates.

Both writes are UpdateItem, which creates the item when it is missing, so neither needs the
other to have run first (see storefront.sales for why the arrival may come before the payment).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from storefront.adapters.dynamodb import written, written_or_refused
from storefront.sales import CLOSED, OPEN, SalesTicket

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


class SalesTicketsTable:
    def __init__(self, table: Table) -> None:
        self._table = table

    def open(self, ticket: SalesTicket) -> bool:
        """Record the ticket's opening; False when an opening is recorded already.

        The status is set only where there is none, so a ticket closed before it was opened
        stays CLOSED and merely gains its opening details.
        """
        return written(
            self._table.update_item,
            Key={"orderId": ticket.order_id},
            UpdateExpression=(
                "SET #status = if_not_exists(#status, :open), customerId = :customer, "
                "openedAt = :at, openedByEventId = :by"
            ),
            ConditionExpression="attribute_not_exists(openedAt)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":open": OPEN,
                ":customer": ticket.customer_id,
                ":at": ticket.opened_at.isoformat(),
                ":by": ticket.opened_by_event_id,
            },
        )

    def opening(self, ticket: SalesTicket) -> dict[str, Any]:
        """The ticket's opening as a TransactWriteItems Update, written with its order
        (storefront.adapters.orders): unconditional, since only the transaction that records the
        order opens its ticket; the status is set only where there is none, as in `open`."""
        return {
            "Update": {
                "TableName": self._table.name,
                "Key": {"orderId": ticket.order_id},
                "UpdateExpression": (
                    "SET #status = if_not_exists(#status, :open), customerId = :customer, "
                    "openedAt = :at, openedByEventId = :by"
                ),
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {
                    ":open": OPEN,
                    ":customer": ticket.customer_id,
                    ":at": ticket.opened_at.isoformat(),
                    ":by": ticket.opened_by_event_id,
                },
            }
        }

    def close(self, ticket: SalesTicket) -> SalesTicket | None:
        """Close the ticket, creating it closed when missing; None when closed, else the ticket as it
        stands closed already, as the refused write returned it (no read first:
        storefront.adapters.dynamodb.written_or_refused).

        A closed ticket is never written again: the caller tells from the returned ticket whether this
        very arrival closed it (a redelivery, or botocore resending a write whose answer was lost),
        and then announces the same TicketClosed again, or another arrival did.
        """
        refused = written_or_refused(
            self._table.update_item,
            Key={"orderId": ticket.order_id},
            UpdateExpression="SET #status = :closed, closedAt = :at, closedByEventId = :by, shipmentId = :shipment",
            ConditionExpression="attribute_not_exists(#status) OR #status <> :closed",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":closed": CLOSED,
                ":at": ticket.closed_at.isoformat(),
                ":by": ticket.closed_by_event_id,
                ":shipment": ticket.shipment_id,
            },
        )
        return None if refused is None else _ticket_from_item(refused.item)


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _ticket_from_item(item: dict[str, Any]) -> SalesTicket:
    return SalesTicket(
        order_id=item["orderId"],
        status=item["status"],
        customer_id=item.get("customerId"),
        opened_at=_when(item.get("openedAt")),
        opened_by_event_id=item.get("openedByEventId"),
        closed_at=_when(item.get("closedAt")),
        closed_by_event_id=item.get("closedByEventId"),
        shipment_id=item.get("shipmentId"),
    )
