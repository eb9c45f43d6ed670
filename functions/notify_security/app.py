"""NotifySecurity: on AccountLocked (EventBridge), publish one alert to the security SNS topic."""

from __future__ import annotations

import os

import boto3
from aws_lambda_powertools.utilities.idempotency import idempotent_function
from aws_lambda_powertools.utilities.typing import LambdaContext

from storefront.adapters.alerts import SecurityAlertsTopic
from storefront.adapters.aws import RETRY_CONFIG
from storefront.events import AccountLocked, MalformedEvent
from storefront.lambda_glue import event_from_eventbridge, idempotency_config, idempotency_store, log_fields
from storefront.log_lines import bounded_logger
from storefront.security import security_alert

logger = bounded_logger()
alerts = SecurityAlertsTopic(
    boto3.client("sns", config=RETRY_CONFIG), os.environ["SECURITY_ALERTS_TOPIC_ARN"]
)
config = idempotency_config()


@idempotent_function(data_keyword_argument="event_id", config=config, persistence_store=idempotency_store())
def alert_security(event_id: str, locked: AccountLocked) -> str:
    message_id = alerts.publish(
        security_alert(locked), event_type=locked.event_type, event_id=locked.event_id
    )
    logger.info("security alerted", extra=log_fields(locked))
    return message_id


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> str:
    config.register_lambda_context(context)
    locked = event_from_eventbridge(event)
    if not isinstance(locked, AccountLocked):  # the rule matches AccountLocked only: a wiring error
        raise MalformedEvent(f"EventBridge event {event.get('id', '?')}: unexpected {locked.event_type}")
    return alert_security(event_id=locked.event_id, locked=locked)
