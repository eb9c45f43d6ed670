"""CloseSalesTicket: on ShipmentArrived (Kafka), close the order's sales ticket and announce TicketClosed."""

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
from storefront.adapters.sales_tickets import SalesTicketsTable
from storefront.events import ShipmentArrived
from storefront.lambda_glue import (
    expect_event,
    idempotency_config,
    idempotency_store,
    log_fields,
    process_kafka_batch,
)
from storefront.log_lines import bounded_logger
from storefront.sales import close_ticket

logger = bounded_logger()
processor = BatchProcessor(event_type=EventType.Kafka)
tickets = SalesTicketsTable(
    boto3.resource("dynamodb", config=RETRY_CONFIG).Table(os.environ["SALES_TICKETS_TABLE_NAME"])
)
bus = EventBus(boto3.client("events", config=RETRY_CONFIG), os.environ["EVENT_BUS_NAME"])
config = idempotency_config()


@idempotent_function(data_keyword_argument="event_id", config=config, persistence_store=idempotency_store())
def close_sales_ticket(event_id: str, arrival: ShipmentArrived) -> str | None:
    closing = close_ticket(arrival, tickets.get(arrival.order_id), now=datetime.now(UTC))
    if closing.ticket is not None and not tickets.close(closing.ticket):
        return None  # another arrival closed it between our read and write, and announces it
    if closing.announcement is None:
        return None
    bus.announce(closing.announcement)
    logger.debug("sales ticket closed", extra=log_fields(closing.announcement))
    return closing.announcement.event_id


def record_handler(record: KafkaEventRecord) -> str:
    arrival = expect_event(record, ShipmentArrived)
    return (
        "announced"
        if close_sales_ticket(event_id=arrival.event_id, arrival=arrival)
        else "nothing to announce"
    )


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    config.register_lambda_context(context)
    return process_kafka_batch(
        event, context, record_handler=record_handler, processor=processor, logger=logger
    )
