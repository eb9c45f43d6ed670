"""Denied access attempts stored in DynamoDB: one item per attempt, sorted by event time.

Key: `customerId` (hash) and `attemptKey` = "<occurredAt, fixed-width UTC>#<eventId>" (range), so
a window is one key-range Query and a redelivered attempt overwrites its own item. `expiresAt` is
the table's TTL attribute; expired items "still show up in reads, queries, and scans" until
deleted (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/howitworks-ttl.html),
so reads bound the time range themselves.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Key

from storefront.security import DeniedAttempt, time_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


class AccessAttemptsTable:
    def __init__(self, table: Table) -> None:
        self._table = table

    def record(self, attempt: DeniedAttempt, expires_at: int) -> None:
        self._table.put_item(
            Item={
                "customerId": attempt.customer_id,
                "attemptKey": attempt.key,
                "occurredAt": time_key(attempt.occurred_at),
                "eventId": attempt.event_id,
                "expiresAt": expires_at,
            }
        )

    def between(self, customer_id: str, start: datetime, end: datetime) -> list[DeniedAttempt]:
        """The customer's attempts with start <= occurredAt <= end (both inclusive)."""
        # Every key of time `end` is "<end>#<id>", and "$" sorts right after "#": "<end>$" bounds them all.
        condition = Key("customerId").eq(customer_id) & Key("attemptKey").between(
            time_key(start), f"{time_key(end)}$"
        )
        items: list[dict[str, Any]] = []
        query: dict[str, Any] = {"KeyConditionExpression": condition, "ConsistentRead": True}
        while True:
            page = self._table.query(**query)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return [_attempt_from_item(item) for item in items]


def _attempt_from_item(item: dict[str, Any]) -> DeniedAttempt:
    return DeniedAttempt(
        customer_id=item["customerId"],
        occurred_at=datetime.fromisoformat(item["occurredAt"]),
        event_id=item["eventId"],
    )
