"""AssembleOrder: on PaymentCompleted (Kafka), record the order and open its sales ticket (one
transaction), send the fulfilment request (SQS) and announce OrderAssemblyRequested.

No idempotency table: the order's conditional write is the reaction's idempotency. A redelivered
payment finds its own order (returned by the failed condition, no read) and sends the identical
request and announcement again, which the fulfilment centre and the bus's subscribers take once
(storefront.fulfilment). The batch's requests go ten to a SendMessageBatch, then its announcements
ten to a PutEvents (lambda_glue.BatchMessages).
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
from storefront.adapters.fulfilment import FulfilmentQueue
from storefront.adapters.orders import OrdersTable
from storefront.adapters.sales_tickets import SalesTicketsTable
from storefront.events import PaymentCompleted
from storefront.fulfilment import assemble
from storefront.lambda_glue import BatchMessages, expect_event, log_fields, process_kafka_batch
from storefront.log_lines import bounded_logger

logger = bounded_logger()
processor = BatchProcessor(event_type=EventType.Kafka)
dynamodb = boto3.resource("dynamodb", config=RETRY_CONFIG)
orders = OrdersTable(dynamodb.Table(os.environ["ORDERS_TABLE_NAME"]))
tickets = SalesTicketsTable(dynamodb.Table(os.environ["SALES_TICKETS_TABLE_NAME"]))
fulfilment = FulfilmentQueue(boto3.client("sqs", config=RETRY_CONFIG), os.environ["FULFILMENT_QUEUE_URL"])
bus = EventBus(boto3.client("events", config=RETRY_CONFIG), os.environ["EVENT_BUS_NAME"])
outbox = BatchMessages(bus, fulfilment)


def assemble_order(payment: PaymentCompleted) -> str:
    now = datetime.now(UTC)
    assembly = assemble(payment, None, now=now)  # the happy path: nothing recorded yet
    if (stored := orders.record(assembly.order, tickets.opening(assembly.ticket))) is not None:
        assembly = assemble(payment, stored, now=now)  # recorded already: decide on what is stored
    if assembly.request is not None:
        outbox.put(assembly.request)
    if assembly.announcement is None:
        return "nothing to announce"
    outbox.add(assembly.announcement)
    logger.debug("order assembly requested", extra=log_fields(assembly.announcement))
    return "announced"


def record_handler(record: KafkaEventRecord) -> str:
    return assemble_order(expect_event(record, PaymentCompleted))


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_kafka_batch(
        event,
        context,
        record_handler=record_handler,
        processor=processor,
        logger=logger,
        announcements=outbox,
    )
