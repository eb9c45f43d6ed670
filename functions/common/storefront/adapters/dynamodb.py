"""What the DynamoDB adapters share: conditional writes that answer whether they wrote."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
