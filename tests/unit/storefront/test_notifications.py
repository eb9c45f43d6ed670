"""The account confirmation email: built from AccountCreated alone, no AWS."""

from __future__ import annotations

from datetime import UTC, datetime

from storefront.events import AccountCreated, AccountRequested
from storefront.notifications import account_confirmation

SENDER = "no-reply@storefront.example.com"
REQUEST = AccountRequested(
    event_id="req-1",
    occurred_at=datetime(2026, 11, 26, 9, 0, tzinfo=UTC),
    customer_id="cust-1001",
    email="ben.okafor@example.com",
    full_name="Ben Okafor",
    password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$secret",
)


def created(full_name: str = "Ben Okafor") -> AccountCreated:
    return AccountCreated.caused_by(
        REQUEST, customer_id=REQUEST.customer_id, email=REQUEST.email, full_name=full_name
    )


def test_email_goes_from_the_sender_to_the_customer():
    email = account_confirmation(created(), sender=SENDER)
    assert (email.sender, email.recipients) == (SENDER, ("ben.okafor@example.com",))
    assert email.subject == "Your storefront account is ready"


def test_both_parts_greet_the_customer_and_give_the_customer_number():
    email = account_confirmation(created(), sender=SENDER)
    for part in (email.text, email.html):
        assert "Ben Okafor" in part
        assert "cust-1001" in part


def test_email_never_carries_the_password_hash():
    email = account_confirmation(created(), sender=SENDER)
    assert not any("argon2id" in part or "secret" in part for part in (email.subject, email.text, email.html))


def test_name_is_escaped_in_the_html_part_only():
    email = account_confirmation(created('Eve <script>alert("x")</script>'), sender=SENDER)
    assert "<script>" not in email.html
    assert "Eve &lt;script&gt;" in email.html
    assert "Eve <script>" in email.text
