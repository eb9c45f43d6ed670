"""Paid orders stored in DynamoDB (one item per order), each recorded together with its sales ticket's
opening.

One TransactWriteItems request puts the order, on condition that none is recorded, and opens the
ticket in the sales tickets table: both or neither ("TransactWriteItems",
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html), so a
recorded order always has its opened ticket, with no second call. When the order's condition fails
the transaction is cancelled (TransactionCanceledException, one CancellationReason per item, in
order) and, with ReturnValuesOnConditionCheckFailure ALL_OLD, the reason carries the order as stored
("CancellationReason": Item), so the reaction decides on it without a read. botocore fills in
ClientRequestToken (an idempotency token) once per call, so its own resend of a request whose
answer was lost is answered as the first ("Idempotency" in the same page) rather than refused.
A cancellation for any other reason (TransactionConflict, a throttled item) is raised: the record
fails and is retried.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from storefront.adapters.dynamodb import decoded
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

    def record(self, order: Order, ticket_opening: dict[str, Any]) -> Order | None:
        """Store a new order and open its ticket (`ticket_opening`: a TransactWriteItems Update, as
        SalesTicketsTable.opening builds it); None when written, else the order already recorded."""
        try:
            self._table.meta.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table.name,
                            "Item": _item_from_order(order),
                            "ConditionExpression": "attribute_not_exists(orderId)",
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                    ticket_opening,
                ]
            )
        except ClientError as error:
            reasons = error.response.get("CancellationReasons") or []
            if error.response["Error"]["Code"] != "TransactionCanceledException" or not reasons:
                raise
            if reasons[0].get("Code") != "ConditionalCheckFailed" or "Item" not in reasons[0]:
                raise
            return _order_from_item(decoded(reasons[0]["Item"]))
        return None


def _item_from_order(order: Order) -> dict[str, Any]:
    return {
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


def _plain(value: Any) -> Any:
    # The DynamoDB resource reads every number back as Decimal; the models want ints.
    return int(value) if isinstance(value, Decimal) else value


def _order_from_item(item: dict[str, Any]) -> Order:
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
    )
