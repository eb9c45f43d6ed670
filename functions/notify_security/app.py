"""NotifySecurity: on AccountLocked (EventBridge), publish one alert to the security SNS topic.

A standard SNS topic dedupes nothing, so the alert is marked on the locked account's item, per lock
(storefront.adapters.effect_marks): read the mark, publish, then mark. A retry finds the mark,
publishes nothing and answers the first publish's MessageId. Three calls an event: GetItem,
Publish, UpdateItem.

No Powertools idempotency on top, for SendAccountConfirmation's reasons (its module says them): the
mark answers a redelivery; only a redelivery during the first delivery, or after the mark's write
was refused five times, publishes the alert twice (each copy carries the lock's eventId attribute,
so the security team can tell).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from storefront.adapters.alerts import SecurityAlertsTopic
from storefront.adapters.aws import MARK_RETRY_CONFIG, RETRY_CONFIG
from storefront.adapters.effect_marks import EffectMark, EffectMarks
from storefront.events import AccountLocked, MalformedEvent
from storefront.lambda_glue import event_from_eventbridge, log_fields, remember_effect
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


def alert_security(locked: AccountLocked) -> str:
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
    locked = event_from_eventbridge(event)
    if not isinstance(locked, AccountLocked):  # the rule matches AccountLocked only: a wiring error
        raise MalformedEvent(f"EventBridge event {event.get('id', '?')}: unexpected {locked.event_type}")
    return alert_security(locked)
