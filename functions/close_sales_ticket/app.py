"""CloseSalesTicket: on ShipmentArrived (Kafka), close the order's sales ticket and announce TicketClosed."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.kafka_event import KafkaEventRecord
from aws_lambda_powertools.utilities.idempotency import idempotent_function
from aws_lambda_powertools.utilities.typing import LambdaContext

from storefront.adapters.bus import EventBus
from storefront.adapters.sales_tickets import SalesTicketsTable
from storefront.events import ShipmentArrived
from storefront.lambda_glue import expect_event, idempotency_config, idempotency_store, log_fields
from storefront.sales import close_ticket

logger = Logger()
processor = BatchProcessor(event_type=EventType.Kafka)
tickets = SalesTicketsTable(boto3.resource("dynamodb").Table(os.environ["SALES_TICKETS_TABLE_NAME"]))
bus = EventBus(boto3.client("events"), os.environ["EVENT_BUS_NAME"])
config = idempotency_config()


@idempotent_function(data_keyword_argument="wire", config=config, persistence_store=idempotency_store())
def close_sales_ticket(wire: dict) -> str | None:
    arrival = ShipmentArrived.model_validate(wire)
    closing = close_ticket(arrival, tickets.get(arrival.order_id), now=datetime.now(UTC))
    if closing.ticket is not None and not tickets.close(closing.ticket):
        return None  # another arrival closed it between our read and write, and announces it
    if closing.announcement is None:
        return None
    bus.announce(closing.announcement)
    logger.info("sales ticket closed", extra=log_fields(closing.announcement))
    return closing.announcement.event_id


def record_handler(record: KafkaEventRecord) -> None:
    event = expect_event(record, ShipmentArrived)
    close_sales_ticket(wire=event.to_wire())


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    config.register_lambda_context(context)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
