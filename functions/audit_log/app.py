"""AuditLog: every event, from any Kafka topic or the bus, logged once (masked) and archived to S3.

Bus events arrive in batches from the audit queue, which an EventBridge rule fills (template.yaml,
AuditEventsRule): one archive object per batch, source and hour instead of one invocation and one
PutObject per event. An EventBridge event sent to the function directly is still archived alone.
"""

from __future__ import annotations

import os

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.kafka_event import KafkaEventRecord
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from storefront import audit
from storefront.adapters.archive import AuditArchive
from storefront.adapters.aws import RETRY_CONFIG
from storefront.events import DomainEvent, MalformedEvent
from storefront.lambda_glue import erased, event_from_eventbridge, event_from_kafka, message_coordinates
from storefront.log_lines import bounded_logger

logger = bounded_logger()
processor = BatchProcessor(event_type=EventType.Kafka)
queue_processor = BatchProcessor(event_type=EventType.SQS)
archive = AuditArchive(boto3.client("s3", config=RETRY_CONFIG), os.environ["AUDIT_BUCKET_NAME"])


def audited(read_event, where: audit.KafkaCoordinates | audit.BusCoordinates) -> audit.ArchiveLine:
    try:
        event = read_event()
    except MalformedEvent as error:  # logged without content, then failed: it reaches the failure queue
        logger.warning("malformed event", extra={**where.log_fields(), "error": str(error)})
        raise
    wire = event.to_wire()
    logger.info(
        "audited", extra={**audit.log_fields(event, where), "event": erased(wire, audit.LOG_ERASED_FIELDS)}
    )
    return audit.archive_line(event, erased(wire, audit.ARCHIVE_ERASED_FIELDS), where)


def event_of(record: KafkaEventRecord) -> DomainEvent:
    if record.get("value") is None:  # a tombstone: Lambda leaves `value` out
        raise MalformedEvent(f"{record.topic}-{record.partition}@{record.offset}: no value (tombstone)")
    return event_from_kafka(record)


def bus_line(envelope: dict) -> audit.ArchiveLine:
    return audited(lambda: event_from_eventbridge(envelope), audit.BusCoordinates.of(envelope))


def message_line(message: SQSRecord) -> audit.ArchiveLine:
    try:
        envelope = audit.envelope_of_message(message.body, message.message_id)
    except MalformedEvent as error:
        logger.warning("malformed event", extra={**message_coordinates(message), "error": str(error)})
        raise
    return bus_line(envelope)


def audit_batch(event: dict, context: LambdaContext, read_line, batch_processor: BatchProcessor) -> dict:
    """Every record's line, then the batch's objects: a record that failed is left out (and retried)."""
    lines: list[audit.ArchiveLine] = []

    def record_handler(record) -> None:
        lines.append(read_line(record))

    response = process_partial_response(
        event=event, record_handler=record_handler, processor=batch_processor, context=context
    )
    archive.put(*audit.archive_objects(lines))
    return response


def kafka_line(record: KafkaEventRecord) -> audit.ArchiveLine:
    return audited(lambda: event_of(record), audit.KafkaCoordinates.of(record))


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict | None:
    kind = audit.invocation_kind(event)
    if kind == "kafka":
        return audit_batch(event, context, kafka_line, processor)
    if kind == "sqs":
        return audit_batch(event, context, message_line, queue_processor)
    archive.put(*audit.archive_objects([bus_line(event)]))
    return None
