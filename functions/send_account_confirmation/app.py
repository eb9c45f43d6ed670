"""SendAccountConfirmation: on AccountCreated (EventBridge), email the customer once per account.

SES dedupes nothing, so the email is marked on the account's item: read the mark, send, then mark
(storefront.adapters.effect_marks). A retry finds the mark (or, when writing it failed, Powertools'
completed record), sends nothing and answers the first send's MessageId.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import boto3
from aws_lambda_powertools.utilities.idempotency import idempotent_function
from aws_lambda_powertools.utilities.typing import LambdaContext

from storefront.adapters.aws import MARK_RETRY_CONFIG, RETRY_CONFIG
from storefront.adapters.effect_marks import EffectMark, EffectMarks
from storefront.adapters.mail import Mailer
from storefront.events import AccountCreated, MalformedEvent
from storefront.lambda_glue import (
    event_from_eventbridge,
    idempotency_config,
    idempotency_store,
    log_fields,
    remember_effect,
)
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
config = idempotency_config()


@idempotent_function(data_keyword_argument="event_id", config=config, persistence_store=idempotency_store())
def confirm_account(event_id: str, created: AccountCreated) -> str:
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
    config.register_lambda_context(context)
    created = event_from_eventbridge(event)
    if not isinstance(created, AccountCreated):  # the rule matches AccountCreated only: a wiring error
        raise MalformedEvent(f"EventBridge event {event.get('id', '?')}: unexpected {created.event_type}")
    return confirm_account(event_id=created.event_id, created=created)
