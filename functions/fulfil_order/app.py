"""FulfilOrder: on an assembly request (SQS, FulfilmentRequestsQueue), assemble the order once and
announce OrderAssembled (storefront.fulfilment_centre says why once per order, on a standard queue)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import idempotent_function
from aws_lambda_powertools.utilities.typing import LambdaContext

from storefront.adapters.assemblies import AssembliesTable
from storefront.adapters.aws import RETRY_CONFIG
from storefront.adapters.bus import EventBus
from storefront.fulfilment import FulfilmentRequest
from storefront.fulfilment_centre import assembly_request, take
from storefront.lambda_glue import (
    idempotency_config,
    idempotency_store,
    log_fields,
    process_sqs_batch,
)
from storefront.log_lines import bounded_logger

logger = bounded_logger()
processor = BatchProcessor(event_type=EventType.SQS)
assemblies = AssembliesTable(
    boto3.resource("dynamodb", config=RETRY_CONFIG).Table(os.environ["ASSEMBLIES_TABLE_NAME"])
)
bus = EventBus(boto3.client("events", config=RETRY_CONFIG), os.environ["EVENT_BUS_NAME"])
config = idempotency_config()


# Keyed on the request's id, which every copy of the request carries (SQS gives each copy a new
# messageId), as the Kafka reactions key on the event id.
@idempotent_function(data_keyword_argument="request_id", config=config, persistence_store=idempotency_store())
def take_request(request_id: str, request: FulfilmentRequest) -> str | None:
    now = datetime.now(UTC)
    taking = take(request, assemblies.get(request.order_id), now=now)
    if taking.assembly is not None and not assemblies.record(taking.assembly):
        # Recorded between our read and write (a racing delivery): decide again on what is stored.
        taking = take(request, assemblies.get(request.order_id), now=now)
    if taking.announcement is None:
        logger.info("order assembled already", extra={"order_id": request.order_id, "request_id": request_id})
        return None
    bus.announce(taking.announcement)
    logger.debug("order assembled", extra=log_fields(taking.announcement))
    return taking.announcement.event_id


def record_handler(record: SQSRecord) -> str:
    request = assembly_request(record.body)
    return (
        "announced" if take_request(request_id=request.request_id, request=request) else "assembled already"
    )


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    config.register_lambda_context(context)
    return process_sqs_batch(
        event, context, record_handler=record_handler, processor=processor, logger=logger
    )
