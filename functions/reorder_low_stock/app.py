"""ReorderLowStock: on InventoryUpdated (Kafka), place one supply order per low sku; announce it."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.kafka_event import KafkaEventRecord
from aws_lambda_powertools.utilities.idempotency import idempotent_function
from aws_lambda_powertools.utilities.typing import LambdaContext

from storefront.adapters.aws import RETRY_CONFIG
from storefront.adapters.bus import EventBus
from storefront.adapters.supply_orders import SupplyOrdersTable
from storefront.events import InventoryUpdated
from storefront.inventory import restock
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
supply_orders = SupplyOrdersTable(
    boto3.resource("dynamodb", config=RETRY_CONFIG).Table(os.environ["SUPPLY_ORDERS_TABLE_NAME"])
)
bus = EventBus(boto3.client("events", config=RETRY_CONFIG), os.environ["EVENT_BUS_NAME"])
config = idempotency_config()


@idempotent_function(data_keyword_argument="event_id", config=config, persistence_store=idempotency_store())
def reorder(event_id: str, update: InventoryUpdated) -> str | None:
    decision = restock(update, supply_orders.get(update.sku), now=datetime.now(UTC))
    if decision.receive is not None and supply_orders.receive(decision.receive):
        logger.debug("supply order received", extra=log_fields(update))
    if decision.place is not None and not supply_orders.place(decision.place):
        return None  # a concurrent count placed the open order and announces it
    if decision.announcement is not None:
        bus.announce(decision.announcement)
        logger.debug("supply order placed", extra=log_fields(decision.announcement))
        return decision.announcement.event_id
    return None


def record_handler(record: KafkaEventRecord) -> str:
    update = expect_event(record, InventoryUpdated)
    return "supply order placed" if reorder(event_id=update.event_id, update=update) else "no order placed"


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    config.register_lambda_context(context)
    return process_kafka_batch(
        event, context, record_handler=record_handler, processor=processor, logger=logger
    )
