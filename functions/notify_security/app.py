"""NotifySecurity: on AccountLocked (EventBridge), publish one alert to the security SNS topic.

A standard SNS topic dedupes nothing, so the alert is marked on the locked account's item, per lock
(storefront.adapters.effect_marks): read the mark, publish, then mark. A retry finds the mark (or,
when writing it failed, Powertools' completed record), publishes nothing and answers the first
publish's MessageId.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import boto3
from aws_lambda_powertools.utilities.idempotency import idempotent_function
from aws_lambda_powertools.utilities.typing import LambdaContext

from storefront.adapters.alerts import SecurityAlertsTopic
from storefront.adapters.aws import MARK_RETRY_CONFIG, RETRY_CONFIG
from storefront.adapters.effect_marks import EffectMark, EffectMarks
from storefront.events import AccountLocked, MalformedEvent
from storefront.lambda_glue import (
    event_from_eventbridge,
    idempotency_config,
    idempotency_store,
    log_fields,
    remember_effect,
)
from storefront.log_lines import bounded_logger
from storefront.security import security_alert

logger = bounded_logger()
alerts = SecurityAlertsTopic(
    boto3.client("sns", config=RETRY_CONFIG), os.environ["SECURITY_ALERTS_TOPIC_ARN"]
)
alerted = EffectMarks(
    boto3.resource("dynamodb", config=MARK_RETRY_CONFIG).Table(os.environ["ACCOUNTS_TABLE_NAME"]),
    key="customerId",
    effect="securityAlert",
)
config = idempotency_config()


@idempotent_function(data_keyword_argument="event_id", config=config, persistence_store=idempotency_store())
def alert_security(event_id: str, locked: AccountLocked) -> str:
    # Per lock, not per account: an account locked again later is alerted again.
    if (mark := alerted.recorded(locked.customer_id)) is not None and mark.by_event_id == locked.event_id:
        logger.info("security alerted already", extra=log_fields(locked))
        return mark.message_id
    message_id = alerts.publish(
        security_alert(locked), event_type=locked.event_type, event_id=locked.event_id
    )
    mark = EffectMark(locked.event_id, message_id, datetime.now(UTC))
    remember_effect(
        lambda: alerted.record(locked.customer_id, mark), effect="security alert", event=locked, logger=logger
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
