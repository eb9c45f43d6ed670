"""Opening accounts: pure decisions, no AWS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storefront.accounts import AccountConflict, open_account
from storefront.events import AccountRequested

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def request(event_id: str = "req-1", customer_id: str = "c-1") -> AccountRequested:
    return AccountRequested(
        event_id=event_id,
        occurred_at=NOW,
        customer_id=customer_id,
        email="ann@example.com",
        full_name="Ann Lee",
        password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
    )


def test_new_customer_gets_an_active_account_and_an_announcement():
    opening = open_account(request(), existing=None, now=NOW)
    assert opening.account.status == "ACTIVE"
    assert opening.account.opened_by_event_id == "req-1"
    assert opening.announcement.customer_id == "c-1"
    assert opening.announcement.email == "ann@example.com"


def test_announcement_never_carries_the_password_hash():
    opening = open_account(request(), existing=None, now=NOW)
    assert "passwordHash" not in opening.announcement.to_wire()


def test_redelivered_request_stores_nothing_and_announces_the_identical_event():
    first = open_account(request(), existing=None, now=NOW)
    again = open_account(request(), existing=first.account, now=NOW + timedelta(minutes=5))
    assert again.account is None
    assert again.announcement == first.announcement


def test_announcement_id_differs_per_request():
    one = open_account(request("req-1"), existing=None, now=NOW)
    two = open_account(request("req-2", customer_id="c-2"), existing=None, now=NOW)
    assert one.announcement.event_id != two.announcement.event_id


def test_second_request_for_a_taken_customer_id_is_a_conflict():
    first = open_account(request("req-1"), existing=None, now=NOW)
    with pytest.raises(AccountConflict, match="c-1"):
        open_account(request("req-2"), existing=first.account, now=NOW)
