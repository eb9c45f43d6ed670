"""Supply orders stored in DynamoDB: the latest order per sku (the table is keyed by sku)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from storefront.adapters.dynamodb import written
from storefront.inventory import OPEN, RECEIVED, SupplyOrder

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


class SupplyOrdersTable:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, sku: str) -> SupplyOrder | None:
        item = self._table.get_item(Key={"sku": sku}, ConsistentRead=True).get("Item")
        return _order_from_item(item) if item else None

    def place(self, order: SupplyOrder) -> bool:
        """Store a new open order; False when another one is open (a concurrent or earlier placing).

        The condition, not the read before it, is what keeps it to one open order per sku: two
        invocations that both read "none open" race here and exactly one put succeeds. The same
        event putting its own order again succeeds too (it writes the same order).
        """
        return written(
            self._table.put_item,
            Item=_item_from_order(order),
            ConditionExpression="attribute_not_exists(sku) OR #status <> :open OR placedByEventId = :by",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":open": OPEN, ":by": order.placed_by_event_id},
        )

    def receive(self, order: SupplyOrder) -> bool:
        """Mark the open order received; False when it is not the open order any more."""
        return written(
            self._table.update_item,
            Key={"sku": order.sku},
            UpdateExpression="SET #status = :received, receivedAt = :at, receivedByEventId = :by",
            ConditionExpression="#status = :open AND supplyOrderId = :id",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":received": RECEIVED,
                ":open": OPEN,
                ":id": order.supply_order_id,
                ":at": order.received_at.isoformat(),
                ":by": order.received_by_event_id,
            },
        )


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
