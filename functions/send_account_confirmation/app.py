"""SendAccountConfirmation: on AccountCreated (EventBridge), email the customer once per event."""

from __future__ import annotations

import os

import boto3
from aws_lambda_powertools.utilities.idempotency import idempotent_function
from aws_lambda_powertools.utilities.typing import LambdaContext

from storefront.adapters.aws import RETRY_CONFIG
from storefront.adapters.mail import Mailer
from storefront.events import AccountCreated, MalformedEvent
from storefront.lambda_glue import event_from_eventbridge, idempotency_config, idempotency_store, log_fields
from storefront.log_lines import bounded_logger
from storefront.notifications import account_confirmation

logger = bounded_logger()
mailer = Mailer(boto3.client("ses", config=RETRY_CONFIG))
sender = os.environ["SENDER_EMAIL_ADDRESS"]
config = idempotency_config()


@idempotent_function(data_keyword_argument="event_id", config=config, persistence_store=idempotency_store())
def confirm_account(event_id: str, created: AccountCreated) -> str:
    message_id = mailer.send(account_confirmation(created, sender=sender))
    logger.info("account confirmation sent", extra={**log_fields(created), "ses_message_id": message_id})
    return message_id


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> str:
    config.register_lambda_context(context)
    created = event_from_eventbridge(event)
    if not isinstance(created, AccountCreated):  # the rule matches AccountCreated only: a wiring error
        raise MalformedEvent(f"EventBridge event {event.get('id', '?')}: unexpected {created.event_type}")
    return confirm_account(event_id=created.event_id, created=created)
