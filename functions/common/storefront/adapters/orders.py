"""Paid orders stored in DynamoDB (one item per order), with the mark that fulfilment was asked."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from storefront.adapters.dynamodb import written
from storefront.events import Address, OrderLine
from storefront.fulfilment import Order

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


class OrdersTable:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, order_id: str) -> Order | None:
        item = self._table.get_item(Key={"orderId": order_id}, ConsistentRead=True).get("Item")
        return _order_from_item(item) if item else None

    def record(self, order: Order) -> bool:
        """Store a new order; False when the order is recorded already (a concurrent or earlier write)."""
        return written(
            self._table.put_item,
            Item=_item_from_order(order),
            ConditionExpression="attribute_not_exists(orderId)",
        )

    def mark_fulfilment_requested(self, order_id: str, at: datetime) -> bool:
        """Note that the fulfilment request is on the queue; False when it was noted already."""
        return written(
            self._table.update_item,
            Key={"orderId": order_id},
            UpdateExpression="SET fulfilmentRequestedAt = :at",
            ConditionExpression="attribute_exists(orderId) AND attribute_not_exists(fulfilmentRequestedAt)",
            ExpressionAttributeValues={":at": at.isoformat()},
        )


def _item_from_order(order: Order) -> dict[str, Any]:
    item = {
        "orderId": order.order_id,
        "customerId": order.customer_id,
        "paymentId": order.payment_id,
        "amountCents": order.amount_cents,
        "currency": order.currency,
        "lines": [line.model_dump(by_alias=True) for line in order.lines],
        "shippingAddress": order.shipping_address.model_dump(by_alias=True, exclude_none=True),
        "status": order.status,
        "paidAt": order.paid_at.isoformat(),
        "recordedAt": order.recorded_at.isoformat(),
        "recordedByEventId": order.recorded_by_event_id,
        "fulfilmentRequestId": order.fulfilment_request_id,
    }
    if order.fulfilment_requested_at is not None:
        item["fulfilmentRequestedAt"] = order.fulfilment_requested_at.isoformat()
    return item


def _plain(value: Any) -> Any:
    # The DynamoDB resource reads every number back as Decimal; the models want ints.
    return int(value) if isinstance(value, Decimal) else value


def _order_from_item(item: dict[str, Any]) -> Order:
    requested_at = item.get("fulfilmentRequestedAt")
    return Order(
        order_id=item["orderId"],
        customer_id=item["customerId"],
        payment_id=item["paymentId"],
        amount_cents=int(item["amountCents"]),
        currency=item["currency"],
        lines=tuple(
            OrderLine.model_validate({k: _plain(v) for k, v in line.items()}) for line in item["lines"]
        ),
        shipping_address=Address.model_validate(item["shippingAddress"]),
        status=item["status"],
        paid_at=datetime.fromisoformat(item["paidAt"]),
        recorded_at=datetime.fromisoformat(item["recordedAt"]),
        recorded_by_event_id=item["recordedByEventId"],
        fulfilment_request_id=item["fulfilmentRequestId"],
        fulfilment_requested_at=datetime.fromisoformat(requested_at) if requested_at else None,
    )
