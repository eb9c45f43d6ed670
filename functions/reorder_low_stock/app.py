"""ReorderLowStock: on InventoryUpdated (Kafka), place one supply order per low sku; announce it.

A count's conditional write is the record's idempotency (storefront.adapters.supply_orders): a low
count puts its order where none is open; a redelivered count is refused, gets back the order it
placed and announces the same SupplyOrderPlaced again (same event id, which subscribers dedupe on).
A count at or above the reorder point receives whichever order is open.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.kafka_event import KafkaEventRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from storefront.adapters.aws import RETRY_CONFIG
from storefront.adapters.bus import EventBus
from storefront.adapters.supply_orders import SupplyOrdersTable
from storefront.events import InventoryUpdated
from storefront.inventory import announced_again, is_low, restock
from storefront.lambda_glue import BatchAnnouncements, expect_event, log_fields, process_kafka_batch
from storefront.log_lines import bounded_logger

logger = bounded_logger()
processor = BatchProcessor(event_type=EventType.Kafka)
supply_orders = SupplyOrdersTable(
    boto3.resource("dynamodb", config=RETRY_CONFIG).Table(os.environ["SUPPLY_ORDERS_TABLE_NAME"])
)
bus = EventBus(boto3.client("events", config=RETRY_CONFIG), os.environ["EVENT_BUS_NAME"])
announcements = BatchAnnouncements(bus)


def reorder(update: InventoryUpdated) -> str:
    now = datetime.now(UTC)
    if not is_low(update):
        if supply_orders.receive(update.sku, now, update.event_id, counted_at=update.occurred_at):
            logger.debug("supply order received", extra=log_fields(update))
        return "no order placed"
    placing = restock(update, None, now=now)  # what the count does where no order is open
    standing = supply_orders.place(placing.place, counted_at=update.occurred_at)
    announcement = placing.announcement if standing is None else announced_again(update, standing)
    if announcement is None:
        return "no order placed"  # an order is open (or a later count changed it)
    announcements.add(announcement)
    logger.debug("supply order placed", extra=log_fields(announcement))
    return "supply order placed"


def record_handler(record: KafkaEventRecord) -> str:
    return reorder(expect_event(record, InventoryUpdated))


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
