"""FulfilOrder: on an assembly request (SQS, FulfilmentRequestsQueue), assemble the order once and
announce OrderAssembled (storefront.fulfilment_centre says why once per order, on a standard queue).

No idempotency table: the assembly's conditional write is the reaction's idempotency. A message for
an assembled order finds the assembly, returned by the failed condition, and announces the same
OrderAssembled again only if it is the message that took the request (a redelivery), else nothing
(storefront.fulfilment_centre). The batch's announcements go ten to a PutEvents
(lambda_glue.BatchAnnouncements).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from storefront.adapters.assemblies import AssembliesTable
from storefront.adapters.aws import RETRY_CONFIG
from storefront.adapters.bus import EventBus
from storefront.fulfilment import FulfilmentRequest
from storefront.fulfilment_centre import assembly_request, take
from storefront.lambda_glue import BatchAnnouncements, log_fields, process_sqs_batch
from storefront.log_lines import bounded_logger

logger = bounded_logger()
processor = BatchProcessor(event_type=EventType.SQS)
assemblies = AssembliesTable(
    boto3.resource("dynamodb", config=RETRY_CONFIG).Table(os.environ["ASSEMBLIES_TABLE_NAME"])
)
bus = EventBus(boto3.client("events", config=RETRY_CONFIG), os.environ["EVENT_BUS_NAME"])
announcements = BatchAnnouncements(bus)


def take_request(request: FulfilmentRequest, message_id: str) -> str:
    now = datetime.now(UTC)
    taking = take(request, None, now=now, message_id=message_id)  # the happy path: not assembled yet
    if (stored := assemblies.record(taking.assembly)) is not None:
        taking = take(request, stored, now=now, message_id=message_id)  # decide on what is stored
    if taking.announcement is None:
        logger.info(
            "order assembled already", extra={"order_id": request.order_id, "request_id": request.request_id}
        )
        return "assembled already"
    announcements.add(taking.announcement)
    logger.debug("order assembled", extra=log_fields(taking.announcement))
    return "announced"


def record_handler(record: SQSRecord) -> str:
    return take_request(assembly_request(record.body), record.message_id)


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_sqs_batch(
        event,
        context,
        record_handler=record_handler,
        processor=processor,
        logger=logger,
        announcements=announcements,
    )
