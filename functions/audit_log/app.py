"""AuditLog: every event, from any Kafka topic or the bus, logged once (masked) and archived to S3."""

from __future__ import annotations

import os

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.kafka_event import KafkaEventRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from storefront import audit
from storefront.adapters.archive import AuditArchive
from storefront.adapters.aws import RETRY_CONFIG
from storefront.events import DomainEvent, MalformedEvent
from storefront.lambda_glue import erased, event_from_eventbridge, event_from_kafka
from storefront.log_lines import bounded_logger

logger = bounded_logger()
processor = BatchProcessor(event_type=EventType.Kafka)
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


def audit_batch(event: dict, context: LambdaContext) -> dict:
    lines: list[audit.ArchiveLine] = []

    def record_handler(record: KafkaEventRecord) -> None:
        lines.append(audited(lambda: event_of(record), audit.KafkaCoordinates.of(record)))

    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    archive.put(*audit.archive_objects(lines))
    return response


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict | None:
    if audit.invocation_kind(event) == "kafka":
        return audit_batch(event, context)
    line = audited(lambda: event_from_eventbridge(event), audit.BusCoordinates.of(event))
    archive.put(*audit.archive_objects([line]))
    return None
