"""What the DynamoDB adapters share: conditional writes that answer whether they wrote."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError


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


_DESERIALIZER = TypeDeserializer()


def decoded(item: dict[str, Any]) -> dict[str, Any]:
    """An item as an error carries it (typed: {"S": ...}), as the Table resource reads items.

    A failed condition with ReturnValuesOnConditionCheckFailure ALL_OLD returns the stored item in
    the error ("ConditionalCheckFailedException": Item, or a transaction's CancellationReason
    Item: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_PutItem.html), which
    boto3's resource layer does not translate as it translates answers.
    """
    return {name: _DESERIALIZER.deserialize(value) for name, value in item.items()}
