"""The fulfilment centre's assemblies in DynamoDB: one item per order, written once."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from storefront.adapters.dynamodb import written
from storefront.events import OrderLine
from storefront.fulfilment_centre import Assembly

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


class AssembliesTable:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, order_id: str) -> Assembly | None:
        item = self._table.get_item(Key={"orderId": order_id}, ConsistentRead=True).get("Item")
        return _assembly_from_item(item) if item else None

    def record(self, assembly: Assembly) -> bool:
        """Store the order's assembly; False when the order has one already (the condition, not the
        read before it, is what makes two racing deliveries assemble the order once)."""
        return written(
            self._table.put_item,
            Item={
                "orderId": assembly.order_id,
                "customerId": assembly.customer_id,
                "requestId": assembly.request_id,
                "lines": [line.model_dump(by_alias=True) for line in assembly.lines],
                "assembledAt": assembly.assembled_at.isoformat(),
            },
            ConditionExpression="attribute_not_exists(orderId)",
        )


def _plain(value: Any) -> Any:
    # The DynamoDB resource reads every number back as Decimal; the models want ints.
    return int(value) if isinstance(value, Decimal) else value


def _assembly_from_item(item: dict[str, Any]) -> Assembly:
    return Assembly(
        order_id=item["orderId"],
        customer_id=item["customerId"],
        request_id=item["requestId"],
        lines=tuple(
            OrderLine.model_validate({k: _plain(v) for k, v in line.items()}) for line in item["lines"]
        ),
        assembled_at=datetime.fromisoformat(item["assembledAt"]),
    )
