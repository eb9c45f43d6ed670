"""Decisions about customer accounts: opening one on request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storefront.events import AccountCreated, AccountRequested


@dataclass(frozen=True)
class Account:
    customer_id: str
    email: str
    full_name: str
    password_hash: str
    marketing_opt_in: bool
    status: str  # "ACTIVE" or "LOCKED"
    created_at: datetime
    opened_by_event_id: str


class AccountConflict(ValueError):
    """A request for a customer id that already has an account opened by another request."""


@dataclass(frozen=True)
class AccountOpening:
    account: Account | None  # the account to store; None when it is stored already
    announcement: AccountCreated


def open_account(request: AccountRequested, existing: Account | None, now: datetime) -> AccountOpening:
    """Open the requested account, or recognise that this very request opened it already.

    A redelivered request finds its own account and announces the same AccountCreated again
    (same event id, stamped with the account's creation time), so a crash between storing and
    announcing loses nothing and the copy is the identical event.
    """
    if existing is not None and existing.opened_by_event_id != request.event_id:
        raise AccountConflict(f"customer {request.customer_id} already has an account")
    announcement = AccountCreated.caused_by(
        request,
        at=existing.created_at if existing is not None else now,
        customer_id=request.customer_id,
        email=request.email,
        full_name=request.full_name,
    )
    if existing is not None:
        return AccountOpening(account=None, announcement=announcement)
    account = Account(
        customer_id=request.customer_id,
        email=request.email,
        full_name=request.full_name,
        password_hash=request.password_hash,
        marketing_opt_in=request.marketing_opt_in,
        status="ACTIVE",
        created_at=now,
        opened_by_event_id=request.event_id,
    )
    return AccountOpening(account=account, announcement=announcement)
