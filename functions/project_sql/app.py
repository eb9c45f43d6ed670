"""ProjectSql: on every topic (Kafka), apply each event to the SQL read model, exactly once.

A batch is one transaction: the rows its records will read are loaded together, each record's
changes are kept with its `applied_offsets` row, and all are written and committed once at the
end. A redelivered record (its offset recorded, or its event at another offset) changes nothing;
a record the projector refuses, or whose value cannot be decoded (invalid base64), changes
nothing and is a batch item failure (Lambda retries it, then sends it to the on-failure
destination) while the rest of the batch commits. If the writing or the commit fails, the whole
invocation fails: Lambda retries the batch (bisecting it), and a record committed before is a
redelivery then, a no-op.
"""

from __future__ import annotations

import binascii
import os
from dataclasses import replace
from functools import partial

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.kafka_event import KafkaEvent, KafkaEventRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from storefront.adapters.aws import RETRY_CONFIG
from storefront.log_lines import bounded_logger
from storefront.read_model import SourceRecord, SqlReadModel, UnprojectableRecord
from storefront.read_model.database import database_url, make_engine
from storefront.read_model.sql import Projection
from storefront.security import LockPolicy

logger = bounded_logger()
processor = BatchProcessor(event_type=EventType.Kafka)

# Locally DATABASE_URL is set; in the cloud the credentials are read once per cold start.
secrets = None if os.environ.get("DATABASE_URL") else boto3.client("secretsmanager", config=RETRY_CONFIG)

read_model = SqlReadModel(
    make_engine(
        database_url(os.environ, secrets),
        # DATABASE_SSL is for the Aurora connection, verified unless it says otherwise; a DATABASE_URL
        # (local) is used as given.
        ssl_mode=(os.environ.get("DATABASE_SSL") or "verify-full") if secrets else "disable",
        ca_bundle=os.environ.get("DATABASE_CA_BUNDLE") or None,
    ),
    LockPolicy.from_environment(os.environ),
)
_schema_ready = False
Sources = dict[tuple[str, int, int], SourceRecord | UnprojectableRecord]


def source_record(record: KafkaEventRecord) -> SourceRecord | UnprojectableRecord:
    """The record as the read model takes it; its refusal when its value cannot be decoded."""
    coordinates = SourceRecord(record.topic, record.partition, record.offset, record.timestamp, None)
    if record.get("value") is None:
        return coordinates  # a tombstone: the projector refuses it by name
    try:
        return replace(coordinates, value=record.decoded_value)
    except (binascii.Error, ValueError):
        return UnprojectableRecord(coordinates, "the value is not base64")


def record_handler(record: KafkaEventRecord, projection: Projection, sources: Sources) -> None:
    source = sources[(record.topic, record.partition, record.offset)]
    try:
        if isinstance(source, UnprojectableRecord):
            raise source
        applied = projection.apply(source)
    except UnprojectableRecord as error:  # the reason names fields, never their values
        coordinates = f"{error.topic}-{error.partition}@{error.offset}"
        logger.warning("record refused", extra={"record": coordinates, "reason": error.reason})
        raise
    logger.debug("record projected", extra={"record": source.coordinates, "redelivered": not applied})


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    global _schema_ready
    if not _schema_ready:  # once per execution environment; creating what exists is a no-op
        read_model.create_schema()
        _schema_ready = True
    # Decoded once: the projection reads them all up front, the record handler one at a time.
    sources = {(r.topic, r.partition, r.offset): source_record(r) for r in KafkaEvent(event).records}
    with read_model.projecting() as projection:
        projection.prepare(s for s in sources.values() if isinstance(s, SourceRecord))
        response = process_partial_response(
            event=event,
            record_handler=partial(record_handler, projection=projection, sources=sources),
            processor=processor,
            context=context,
        )
    report = projection.report
    logger.info(
        "batch projected",
        extra={
            "projected": report.applied,
            "redelivered": report.redelivered,
            "refused": len(report.skipped),
        },
    )
    return response
