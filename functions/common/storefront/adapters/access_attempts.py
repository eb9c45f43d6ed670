"""Denied access attempts stored in DynamoDB: one item per attempt, sorted by event time.

Key: `customerId` (hash) and `attemptKey` = "<occurredAt, fixed-width UTC>#<eventId>" (range), so
a window is one key-range Query and a redelivered attempt overwrites its own item. `expiresAt` is
the table's TTL attribute; expired items "still show up in reads, queries, and scans" until
deleted (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/howitworks-ttl.html),
so reads bound the time range themselves.

`window` answers what `between` would, reading each customer's attempts at most once a batch
(twice when a later attempt needs a wider span): the first read spans one window more ahead than
asked, the rest are answered from what was read plus what `record` stored since. That is exact
because nothing else writes a customer's attempts meanwhile: the security topic is keyed by
customer, and Lambda runs one batch at a time per partition. `forget` starts the next batch afresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Key

from storefront.security import DeniedAttempt, time_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


@dataclass
class _Read:
    """What the table holds of one customer's attempts with start <= occurredAt <= end."""

    start: datetime
    end: datetime
    attempts: dict[str, DeniedAttempt]  # by attemptKey


class AccessAttemptsTable:
    def __init__(self, table: Table, *, read_ahead: timedelta = timedelta(0)) -> None:
        self._table = table
        self._read_ahead = read_ahead  # how far past the asked span the first read of a batch goes
        self._read: dict[str, _Read] = {}  # customer id -> what this batch has read

    def forget(self) -> None:
        """Drop what was read: the next batch reads afresh."""
        self._read.clear()

    def record(self, attempt: DeniedAttempt, expires_at: int) -> None:
        self._put(attempt, expires_at)
        if (read := self._read.get(attempt.customer_id)) is not None:
            read.attempts[attempt.key] = attempt

    def window(self, customer_id: str, start: datetime, end: datetime) -> list[DeniedAttempt]:
        """`between(customer_id, start, end)`, read once a batch where the spans allow."""
        read = self._read.get(customer_id)
        if read is None:
            read = _Read(start, end + self._read_ahead, {})
            self._read[customer_id] = read
            spans = [(read.start, read.end)]
        else:  # bounds are inclusive: an overlap reads an attempt again, under the same key
            spans = [(start, read.start)] if start < read.start else []
            spans += [(read.end, end)] if end > read.end else []
            read.start, read.end = min(start, read.start), max(end, read.end)
        for span in spans:
            read.attempts.update((a.key, a) for a in self.between(customer_id, *span))
        return [a for a in read.attempts.values() if start <= a.occurred_at <= end]

    def _put(self, attempt: DeniedAttempt, expires_at: int) -> None:
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
