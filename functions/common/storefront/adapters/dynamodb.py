"""What the DynamoDB adapters share: conditional writes that answer whether they wrote, and what
stood in their way when they did not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

_deserializer = TypeDeserializer()


def written(write: Callable[..., Any], **request: Any) -> bool:
    """Run a conditional PutItem/UpdateItem; False when its ConditionExpression was not met.

    DynamoDB answers a failed condition with ConditionalCheckFailedException and writes nothing
    (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html);
    every other error is raised, so the record fails and is retried.
    """
    try:
        write(**request)
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


class Refused:
    """A conditional write that was not made, and the item that was there (None: no item)."""

    def __init__(self, item: dict[str, Any] | None) -> None:
        self.item = item


def written_or_refused(write: Callable[..., Any], **request: Any) -> Refused | None:
    """Run a conditional PutItem/UpdateItem of a Table; None when it wrote, else Refused with the item
    that failed the condition, in one call: no read before the write.

    "Use ReturnValuesOnConditionCheckFailure to get the item attributes if the UpdateItem condition
    fails" (NONE or ALL_OLD; the same for PutItem): DynamoDB returns the item as it was in the
    ConditionalCheckFailedException itself (Amazon DynamoDB API Reference, UpdateItem and PutItem,
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateItem.html). Error
    responses are not shaped by the boto3 resource layer, so the item comes in the wire format
    ({"S": ...}) and is deserialized here as the Table would its answers (numbers as Decimal).
    A missing item (a condition on an attribute of an item that is not there) returns no Item.
    """
    try:
        write(ReturnValuesOnConditionCheckFailure="ALL_OLD", **request)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        item = error.response.get("Item")
        return Refused(decoded(item) if item else None)
    return None


def decoded(item: dict[str, Any]) -> dict[str, Any]:
    """An item as an error carries it (typed: {"S": ...}), as the Table resource reads items.

    A failed condition with ReturnValuesOnConditionCheckFailure ALL_OLD returns the stored item in
    the error ("ConditionalCheckFailedException": Item, or a transaction's CancellationReason
    Item: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_PutItem.html), which
    boto3's resource layer does not translate as it translates answers.
    """
    return {name: _deserializer.deserialize(value) for name, value in item.items()}
