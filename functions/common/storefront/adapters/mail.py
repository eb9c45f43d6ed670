"""Email sent through Amazon SES (the sender must be a verified identity)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from storefront.notifications import EmailMessage

if TYPE_CHECKING:
    from mypy_boto3_ses import SESClient


class EmailNotSent(RuntimeError):
    """SES refused the email. Carries SES's error code only: its message may quote an address."""


class Mailer:
    def __init__(self, client: SESClient) -> None:
        self._client = client

    def send(self, message: EmailMessage) -> str:
        """Send one email; its SES MessageId. Raises EmailNotSent (the invocation fails and is retried)."""
        try:
            response = self._client.send_email(
                Source=message.sender,
                Destination={"ToAddresses": list(message.recipients)},
                Message={
                    "Subject": {"Data": message.subject, "Charset": "UTF-8"},
                    "Body": {
                        "Text": {"Data": message.text, "Charset": "UTF-8"},
                        "Html": {"Data": message.html, "Charset": "UTF-8"},
                    },
                },
            )
        except ClientError as error:
            # An uncaught error reaches the function's log: keep the code, drop the wording.
            raise EmailNotSent(f"SES {error.response['Error'].get('Code', 'error')}") from None
        return response["MessageId"]
