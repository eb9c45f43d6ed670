"""What the storefront tells its customers: the account confirmation email, as plain data.

Built only from the AccountCreated announcement, which carries no password hash, so no secret can
reach an email; the customer's name is escaped in the HTML part (it is user input).
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from storefront.events import AccountCreated


@dataclass(frozen=True)
class EmailMessage:
    sender: str
    recipients: tuple[str, ...]
    subject: str
    text: str
    html: str


def account_confirmation(created: AccountCreated, *, sender: str) -> EmailMessage:
    """The welcome email for a new account: a text part and an HTML part saying the same."""
    name, customer_id = created.full_name, created.customer_id
    text = (
        f"Hello {name},\n\n"
        f"your storefront account is ready. Your customer number is {customer_id}.\n\n"
        "If you did not ask for this account, reply to this email and we will close it.\n\n"
        "The Storefront team\n"
    )
    body = (
        "<!DOCTYPE html>\n"
        '<html><body style="font-family: sans-serif">\n'
        f"<p>Hello {html.escape(name)},</p>\n"
        "<p>your storefront account is ready. Your customer number is "
        f"<strong>{html.escape(customer_id)}</strong>.</p>\n"
        "<p>If you did not ask for this account, reply to this email and we will close it.</p>\n"
        "<p>The Storefront team</p>\n"
        "</body></html>\n"
    )
    return EmailMessage(
        sender=sender,
        recipients=(created.email,),
        subject="Your storefront account is ready",
        text=text,
        html=body,
    )
