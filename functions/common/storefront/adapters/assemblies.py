"""The fulfilment centre's assemblies in DynamoDB: one item per order, written once.

The write is conditional on no assembly for the order, and a failed condition returns the stored
assembly (ReturnValuesOnConditionCheckFailure ALL_OLD,
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_PutItem.html): the reaction
decides on it without reading first, and the condition is its idempotency (no idempotency table).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from storefront.adapters.dynamodb import decoded
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

    def record(self, assembly: Assembly) -> Assembly | None:
        """Store the order's assembly; None when written, else the assembly the order has already
        (the condition, not a read, is what makes two racing deliveries assemble the order once)."""
        try:
            self._table.put_item(
                Item={
                    "orderId": assembly.order_id,
                    "customerId": assembly.customer_id,
                    "requestId": assembly.request_id,
                    "lines": [line.model_dump(by_alias=True) for line in assembly.lines],
                    "assembledAt": assembly.assembled_at.isoformat(),
                    **({"messageId": assembly.message_id} if assembly.message_id else {}),
                },
                ConditionExpression="attribute_not_exists(orderId)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if (
                error.response["Error"]["Code"] != "ConditionalCheckFailedException"
                or "Item" not in error.response
            ):
                raise
            return _assembly_from_item(decoded(error.response["Item"]))
        return None


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
        message_id=item.get("messageId"),
    )
