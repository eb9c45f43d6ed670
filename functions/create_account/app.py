"""CreateAccount: on AccountRequested (Kafka), store the account and announce AccountCreated."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.kafka_event import KafkaEventRecord
from aws_lambda_powertools.utilities.idempotency import idempotent_function
from aws_lambda_powertools.utilities.typing import LambdaContext

from storefront.accounts import open_account
from storefront.adapters.accounts import AccountsTable
from storefront.adapters.aws import RETRY_CONFIG
from storefront.adapters.bus import EventBus
from storefront.events import AccountRequested
from storefront.lambda_glue import (
    expect_event,
    idempotency_config,
    idempotency_store,
    log_fields,
    process_kafka_batch,
)
from storefront.log_lines import bounded_logger

logger = bounded_logger()
processor = BatchProcessor(event_type=EventType.Kafka)
accounts = AccountsTable(
    boto3.resource("dynamodb", config=RETRY_CONFIG).Table(os.environ["ACCOUNTS_TABLE_NAME"])
)
bus = EventBus(boto3.client("events", config=RETRY_CONFIG), os.environ["EVENT_BUS_NAME"])
config = idempotency_config()


@idempotent_function(data_keyword_argument="event_id", config=config, persistence_store=idempotency_store())
def create_account(event_id: str, request: AccountRequested) -> str:
    opening = open_account(request, accounts.get(request.customer_id), now=datetime.now(UTC))
    if opening.account is not None:
        accounts.add(opening.account)
    bus.announce(opening.announcement)
    logger.debug("account created", extra=log_fields(opening.announcement))
    return opening.announcement.event_id


def record_handler(record: KafkaEventRecord) -> str:
    request = expect_event(record, AccountRequested)
    create_account(event_id=request.event_id, request=request)
    return "announced"


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    config.register_lambda_context(context)
    return process_kafka_batch(
        event, context, record_handler=record_handler, processor=processor, logger=logger
    )
