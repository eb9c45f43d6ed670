"""CloseSalesTicket: on ShipmentArrived (Kafka), close the order's sales ticket and announce TicketClosed.

The ticket's conditional close is the record's idempotency: a closed ticket is never written again,
and the refused write returns it, so a redelivered arrival that closed it announces the same
TicketClosed again (same event id, which subscribers dedupe on) and another arrival announces nothing.
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
from storefront.adapters.sales_tickets import SalesTicketsTable
from storefront.events import ShipmentArrived
from storefront.lambda_glue import BatchAnnouncements, expect_event, log_fields, process_kafka_batch
from storefront.log_lines import bounded_logger
from storefront.sales import close_ticket

logger = bounded_logger()
processor = BatchProcessor(event_type=EventType.Kafka)
tickets = SalesTicketsTable(
    boto3.resource("dynamodb", config=RETRY_CONFIG).Table(os.environ["SALES_TICKETS_TABLE_NAME"])
)
bus = EventBus(boto3.client("events", config=RETRY_CONFIG), os.environ["EVENT_BUS_NAME"])
announcements = BatchAnnouncements(bus)


def close_sales_ticket(arrival: ShipmentArrived) -> str:
    now = datetime.now(UTC)
    # Closing writes the same fields whether the ticket is open or missing, so no read comes first.
    closing = close_ticket(arrival, None, now=now)
    standing = tickets.close(closing.ticket)
    if standing is not None:  # closed already: by this arrival (announce again) or by another
        closing = close_ticket(arrival, standing, now=now)
    if closing.announcement is None:
        return "nothing to announce"
    announcements.add(closing.announcement)
    logger.debug("sales ticket closed", extra=log_fields(closing.announcement))
    return "announced"


def record_handler(record: KafkaEventRecord) -> str:
    return close_sales_ticket(expect_event(record, ShipmentArrived))


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
