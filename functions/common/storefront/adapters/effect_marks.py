"""Marks, on a DynamoDB item, that an effect AWS cannot dedupe was done: an email sent through SES,
an alert published to SNS. Neither service drops a second identical request: SES SendEmail takes
no idempotency token (https://docs.aws.amazon.com/ses/latest/APIReference/API_SendEmail.html), and
Publish's MessageDeduplicationId "applies only to FIFO (first-in-first-out) topics"
(https://docs.aws.amazon.com/sns/latest/api/API_Publish.html); ours is a standard topic.

A reaction reads the mark before the effect and writes it after, conditionally, so a retry finds
the mark and does nothing, unless the effect's own answer was lost or the process died before the
mark (README, "Exactly once, and where it cannot be"). The mark is three attributes
named after the effect (`<effect>ByEventId`, `<effect>MessageId`, `<effect>At`) beside whatever
else the item holds; UpdateItem creates the item when it is missing, so the mark never waits for
the item's other writer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from storefront.adapters.dynamodb import written

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


@dataclass(frozen=True)
class EffectMark:
    by_event_id: str  # the event whose reaction did the effect
    message_id: str  # what the service answered (SES or SNS MessageId)
    at: datetime


class EffectMarks:
    def __init__(self, table: Table, *, key: str, effect: str) -> None:
        self._table = table
        self._key = key
        self._names = {"#by": f"{effect}ByEventId", "#id": f"{effect}MessageId", "#at": f"{effect}At"}

    def recorded(self, key: str) -> EffectMark | None:
        """The item's mark, read consistently (a mark written a moment ago must be seen)."""
        item = self._table.get_item(
            Key={self._key: key},
            ConsistentRead=True,
            ProjectionExpression="#by, #id, #at",
            ExpressionAttributeNames=self._names,
        ).get("Item")
        if not item or self._names["#by"] not in item:
            return None
        return EffectMark(
            by_event_id=item[self._names["#by"]],
            message_id=item[self._names["#id"]],
            at=datetime.fromisoformat(item[self._names["#at"]]),
        )

    def record(self, key: str, mark: EffectMark) -> bool:
        """Write the mark; False when the same event's mark is there already (a concurrent retry)."""
        return written(
            self._table.update_item,
            Key={self._key: key},
            UpdateExpression="SET #by = :by, #id = :id, #at = :at",
            ConditionExpression="attribute_not_exists(#by) OR #by <> :by",
            ExpressionAttributeNames=self._names,
            ExpressionAttributeValues={
                ":by": mark.by_event_id,
                ":id": mark.message_id,
                ":at": mark.at.isoformat(),
            },
        )
