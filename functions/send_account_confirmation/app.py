"""SendAccountConfirmation: on AccountCreated (EventBridge), email the customer once per account.

SES dedupes nothing, so the email is marked on the account's item: read the mark, send, then mark
(storefront.adapters.effect_marks). A retry finds the mark, sends nothing and answers the first
send's MessageId. Three calls an event: GetItem, SendEmail, UpdateItem.

No Powertools idempotency on top: the mark is already what answers a redelivered event, and the
idempotency record cost a PutItem and an UpdateItem more per event (issue 15). What only that record
covered: a redelivery while the first delivery is still running (its in-progress record), and one
after the mark's write failed (its completed record). Both need Lambda to deliver the event twice
after an invocation that succeeded, which its asynchronous queue does rarely ("Even if your function
doesn't return an error, it's possible for it to receive the same event from Lambda multiple times",
https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html), and the second
also the mark refused after its five attempts (MARK_RETRY_CONFIG): the customer then gets the email
twice, as after a crash between send and mark (README, "Exactly once, and where it cannot be").

The read cannot come from the mark's own conditional write (ReturnValuesOnConditionCheckFailure):
that write comes after the send, and the read decides whether to send. Writing first (a claim,
then the send, then the MessageId) is as many calls, and turns a crash between claim and send into
an email never sent, unless the claim expires as Powertools' in-progress record does.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from storefront.adapters.aws import MARK_RETRY_CONFIG, RETRY_CONFIG
from storefront.adapters.effect_marks import EffectMark, EffectMarks
from storefront.adapters.mail import Mailer
from storefront.events import AccountCreated, MalformedEvent
from storefront.lambda_glue import event_from_eventbridge, log_fields, remember_effect
from storefront.log_lines import bounded_logger
from storefront.notifications import account_confirmation

logger = bounded_logger()
mailer = Mailer(boto3.client("ses", config=RETRY_CONFIG))
confirmations = EffectMarks(
    boto3.resource("dynamodb", config=MARK_RETRY_CONFIG).Table(os.environ["ACCOUNTS_TABLE_NAME"]),
    key="customerId",
    effect="confirmationEmail",
)
sender = os.environ["SENDER_EMAIL_ADDRESS"]


def confirm_account(created: AccountCreated) -> str:
    if (sent := confirmations.recorded(created.customer_id)) is not None:
        logger.info("account confirmation sent already", extra=log_fields(created))
        return sent.message_id
    message_id = mailer.send(account_confirmation(created, sender=sender))
    mark = EffectMark(created.event_id, message_id, datetime.now(UTC))
    remember_effect(
        lambda: confirmations.record(created.customer_id, mark),
        effect="confirmation email",
        event=created,
        logger=logger,
    )
    logger.info("account confirmation sent", extra={**log_fields(created), "ses_message_id": message_id})
    return message_id


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> str:
    created = event_from_eventbridge(event)
    if not isinstance(created, AccountCreated):  # the rule matches AccountCreated only: a wiring error
        raise MalformedEvent(f"EventBridge event {event.get('id', '?')}: unexpected {created.event_type}")
    return confirm_account(created)
