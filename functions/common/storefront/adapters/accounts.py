"""Accounts stored in DynamoDB (one item per customer)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from storefront.accounts import Account
from storefront.security import LockOutcome

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


class AccountsTable:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, customer_id: str) -> Account | None:
        item = self._table.get_item(Key={"customerId": customer_id}, ConsistentRead=True).get("Item")
        return _account_from_item(item) if item else None

    def add(self, account: Account) -> bool:
        """Store a new account; False when one exists already (a concurrent or earlier write)."""
        try:
            self._table.put_item(
                Item=_item_from_account(account), ConditionExpression="attribute_not_exists(customerId)"
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def lock(self, customer_id: str, locked_at: datetime, locked_by_event_id: str) -> LockOutcome:
        """Mark an existing account locked, once.

        One conditional write: it never creates an item (a customer with no account stays without
        one), and an account locked by another attempt keeps its lock untouched. The attempt that
        locked it may lock it again (a redelivery after a crash before announcing): same values.
        """
        try:
            self._table.update_item(
                Key={"customerId": customer_id},
                UpdateExpression="SET #status = :locked, lockedAt = :at, lockedByEventId = :by",
                ConditionExpression=(
                    "attribute_exists(customerId) AND (#status <> :locked OR lockedByEventId = :by)"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":locked": "LOCKED",
                    ":at": locked_at.isoformat(),
                    ":by": locked_by_event_id,
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            # The old item comes back with the failure when there was one.
            return LockOutcome.ALREADY_LOCKED if error.response.get("Item") else LockOutcome.NO_ACCOUNT
        return LockOutcome.LOCKED


def _item_from_account(account: Account) -> dict[str, Any]:
    return {
        "customerId": account.customer_id,
        "email": account.email,
        "fullName": account.full_name,
        "passwordHash": account.password_hash,
        "marketingOptIn": account.marketing_opt_in,
        "status": account.status,
        "createdAt": account.created_at.isoformat(),
        "openedByEventId": account.opened_by_event_id,
    }


def _account_from_item(item: dict[str, Any]) -> Account:
    return Account(
        customer_id=item["customerId"],
        email=item["email"],
        full_name=item["fullName"],
        password_hash=item["passwordHash"],
        marketing_opt_in=bool(item.get("marketingOptIn", False)),
        status=item.get("status", "ACTIVE"),
        created_at=datetime.fromisoformat(item["createdAt"]),
        opened_by_event_id=item["openedByEventId"],
    )
