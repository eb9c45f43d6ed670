"""Supply orders stored in DynamoDB: the latest order per sku (the table is keyed by sku).

Each write is one conditional request with no read before it, and its condition is what makes a
count's effect happen once (storefront.adapters.dynamodb):

- placing puts the new open order only where no order is open, and never for a count that placed
  the sku's order already (a redelivery: the refused put returns that order, to announce it again);
- receiving marks whichever order is open RECEIVED.

Both also refuse a count no later than the count that last changed the sku's order (`countedAt`, the
count's own time): InventoryUpdated carries state, and an older count, redelivered after newer ones
were applied, must not undo what they decided (receive the order a newer count placed, say).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from storefront.adapters.dynamodb import written, written_or_refused
from storefront.inventory import OPEN, RECEIVED, SupplyOrder

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

# Older than every count: items stored before countedAt was written.
_NOT_COUNTED = "attribute_not_exists(countedAt) OR countedAt < :counted"


class SupplyOrdersTable:
    def __init__(self, table: Table) -> None:
        self._table = table

    def place(self, order: SupplyOrder, counted_at: datetime) -> SupplyOrder | None:
        """Store a new open order for the count made at `counted_at`; None when stored, else the
        sku's order that stood in its way (open, placed by this very count, or changed by a later
        count), as the refused put returned it.

        The condition, not a read, keeps it to one open order per sku: of two counts racing, exactly
        one put succeeds.
        """
        refused = written_or_refused(
            self._table.put_item,
            Item={**_item_from_order(order), "countedAt": _counted(counted_at)},
            ConditionExpression=(
                f"attribute_not_exists(sku) OR (#status <> :open AND placedByEventId <> :by AND ({_NOT_COUNTED}))"
            ),
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":open": OPEN,
                ":by": order.placed_by_event_id,
                ":counted": _counted(counted_at),
            },
        )
        return None if refused is None else _order_from_item(refused.item)

    def receive(
        self, sku: str, received_at: datetime, received_by_event_id: str, counted_at: datetime
    ) -> bool:
        """Mark the sku's open order received by the count made at `counted_at`; False when no order
        is open, or a later count changed it."""
        return written(
            self._table.update_item,
            Key={"sku": sku},
            UpdateExpression="SET #status = :received, receivedAt = :at, receivedByEventId = :by, countedAt = :counted",
            ConditionExpression=f"#status = :open AND ({_NOT_COUNTED})",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":received": RECEIVED,
                ":open": OPEN,
                ":at": received_at.isoformat(),
                ":by": received_by_event_id,
                ":counted": _counted(counted_at),
            },
        )


def _counted(at: datetime) -> str:
    # Fixed width in UTC, so that DynamoDB's string comparison orders the times.
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _item_from_order(order: SupplyOrder) -> dict[str, Any]:
    return {
        "sku": order.sku,
        "supplyOrderId": order.supply_order_id,
        "warehouseId": order.warehouse_id,
        "quantity": order.quantity,
        "status": order.status,
        "placedAt": order.placed_at.isoformat(),
        "placedByEventId": order.placed_by_event_id,
    }


def _order_from_item(item: dict[str, Any]) -> SupplyOrder:
    received_at = item.get("receivedAt")
    return SupplyOrder(
        supply_order_id=item["supplyOrderId"],
        sku=item["sku"],
        warehouse_id=item["warehouseId"],
        quantity=int(item["quantity"]),
        status=item["status"],
        placed_at=datetime.fromisoformat(item["placedAt"]),
        placed_by_event_id=item["placedByEventId"],
        received_at=datetime.fromisoformat(received_at) if received_at else None,
        received_by_event_id=item.get("receivedByEventId"),
    )
