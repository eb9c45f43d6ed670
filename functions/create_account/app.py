"""CreateAccount: on AccountRequested (Kafka), store the account and announce AccountCreated.

The account's conditional write is the record's idempotency: a redelivered request is refused by it,
gets back the account its first delivery stored, and announces the same AccountCreated again (same
event id, which subscribers dedupe on), in case the first delivery died before announcing.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.kafka_event import KafkaEventRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from storefront.accounts import open_account
from storefront.adapters.accounts import AccountsTable
from storefront.adapters.aws import RETRY_CONFIG
from storefront.adapters.bus import EventBus
from storefront.events import AccountRequested
from storefront.lambda_glue import BatchAnnouncements, expect_event, log_fields, process_kafka_batch
from storefront.log_lines import bounded_logger

logger = bounded_logger()
processor = BatchProcessor(event_type=EventType.Kafka)
accounts = AccountsTable(
    boto3.resource("dynamodb", config=RETRY_CONFIG).Table(os.environ["ACCOUNTS_TABLE_NAME"])
)
bus = EventBus(boto3.client("events", config=RETRY_CONFIG), os.environ["EVENT_BUS_NAME"])
announcements = BatchAnnouncements(bus)


def create_account(request: AccountRequested) -> str:
    now = datetime.now(UTC)
    opening = open_account(request, None, now=now)
    stored = accounts.add(opening.account)
    if stored is not None:  # this request's own account (a redelivery), or another's: AccountConflict
        opening = open_account(request, stored, now=now)
    announcements.add(opening.announcement)
    logger.debug("account created", extra=log_fields(opening.announcement))
    return "announced" if stored is None else "announced again"


def record_handler(record: KafkaEventRecord) -> str:
    return create_account(expect_event(record, AccountRequested))


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_kafka_batch(
        event,
        context,
        record_handler=record_handler,
        processor=processor,
        logger=logger,
        announcements=announcements,
    )
