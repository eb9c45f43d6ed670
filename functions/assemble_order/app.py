"""AssembleOrder: on PaymentCompleted (Kafka), record the order, open its sales ticket, send the
fulfilment request (SQS) and announce OrderAssemblyRequested."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.kafka_event import KafkaEventRecord
from aws_lambda_powertools.utilities.idempotency import idempotent_function
from aws_lambda_powertools.utilities.typing import LambdaContext

from storefront.adapters.aws import MARK_RETRY_CONFIG, RETRY_CONFIG
from storefront.adapters.bus import EventBus
from storefront.adapters.fulfilment import FulfilmentQueue
from storefront.adapters.orders import OrdersTable
from storefront.adapters.sales_tickets import SalesTicketsTable
from storefront.events import PaymentCompleted
from storefront.fulfilment import assemble
from storefront.lambda_glue import (
    expect_event,
    idempotency_config,
    idempotency_store,
    log_fields,
    process_kafka_batch,
    remember_effect,
)
from storefront.log_lines import bounded_logger

logger = bounded_logger()
processor = BatchProcessor(event_type=EventType.Kafka)
dynamodb = boto3.resource("dynamodb", config=MARK_RETRY_CONFIG)  # the order's mark follows the send
orders = OrdersTable(dynamodb.Table(os.environ["ORDERS_TABLE_NAME"]))
tickets = SalesTicketsTable(dynamodb.Table(os.environ["SALES_TICKETS_TABLE_NAME"]))
fulfilment = FulfilmentQueue(boto3.client("sqs", config=RETRY_CONFIG), os.environ["FULFILMENT_QUEUE_URL"])
bus = EventBus(boto3.client("events", config=RETRY_CONFIG), os.environ["EVENT_BUS_NAME"])
config = idempotency_config()


@idempotent_function(data_keyword_argument="event_id", config=config, persistence_store=idempotency_store())
def assemble_order(event_id: str, payment: PaymentCompleted) -> str | None:
    now = datetime.now(UTC)
    assembly = assemble(payment, orders.get(payment.order_id), now=now)
    if assembly.order is not None and not orders.record(assembly.order):
        # Recorded between our read and write, by another delivery or by this very put (botocore
        # resends a write whose answer was lost): decide again on what is stored.
        assembly = assemble(payment, orders.get(payment.order_id), now=now)
    if assembly.ticket is not None:
        tickets.open(assembly.ticket)
    if (request := assembly.request) is not None:  # not marked sent: see storefront.fulfilment
        fulfilment.send(request)
        remember_effect(
            lambda: orders.mark_fulfilment_requested(request.order_id, request.requested_at),
            effect="fulfilment request",
            event=payment,
            logger=logger,
        )
    if assembly.announcement is None:
        return None
    bus.announce(assembly.announcement)
    logger.debug("order assembly requested", extra=log_fields(assembly.announcement))
    return assembly.announcement.event_id


def record_handler(record: KafkaEventRecord) -> str:
    payment = expect_event(record, PaymentCompleted)
    return (
        "announced" if assemble_order(event_id=payment.event_id, payment=payment) else "nothing to announce"
    )


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    config.register_lambda_context(context)
    return process_kafka_batch(
        event, context, record_handler=record_handler, processor=processor, logger=logger
    )
