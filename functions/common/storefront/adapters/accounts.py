"""Accounts stored in DynamoDB (one item per customer).

An item can hold a lock before it holds the account: the security and customer-accounts topics
are consumed independently, so denials may be counted before the request that opened the account.
The account's fields are then written beside the lock, never over it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from storefront.accounts import Account
from storefront.adapters.dynamodb import written_or_refused
from storefront.security import LockOutcome

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


class AccountsTable:
    def __init__(self, table: Table) -> None:
        self._table = table

    def add(self, account: Account) -> Account | None:
        """Store a new account (keeping a lock that came first); None when stored, else the account
        stored already, as the refused write returned it (no read first: storefront.adapters.dynamodb).

        The account is only ever written once: a redelivered request (or botocore resending a write
        whose answer was lost) is refused and gets back the account its first delivery stored, whose
        creation time its announcement carries again.
        """
        fields = {k: v for k, v in _item_from_account(account).items() if k not in ("customerId", "status")}
        refused = written_or_refused(
            self._table.update_item,
            Key={"customerId": account.customer_id},
            UpdateExpression="SET #status = if_not_exists(#status, :status), "
            + ", ".join(f"#{name} = :{name}" for name in fields),
            ConditionExpression="attribute_not_exists(openedByEventId)",
            ExpressionAttributeNames={"#status": "status", **{f"#{name}": name for name in fields}},
            ExpressionAttributeValues={":status": account.status, **{f":{n}": v for n, v in fields.items()}},
        )
        return None if refused is None else _account_from_item(refused.item)

    def lock(self, customer_id: str, locked_at: datetime, locked_by_event_id: str) -> LockOutcome:
        """Lock the customer's account, once, whether or not the account is stored yet.

        One conditional write: an account locked by another attempt keeps its lock untouched. The
        attempt that locked it may lock it again (a redelivery after a crash before announcing).
        """
        try:
            self._table.update_item(
                Key={"customerId": customer_id},
                UpdateExpression="SET #status = :locked, lockedAt = :at, lockedByEventId = :by",
                ConditionExpression="attribute_not_exists(#status) OR #status <> :locked OR lockedByEventId = :by",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":locked": "LOCKED",
                    ":at": locked_at.isoformat(),
                    ":by": locked_by_event_id,
                },
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return LockOutcome.ALREADY_LOCKED
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
