"""What every reaction's handler shares: reading events out of Kafka records and EventBridge
envelopes, partial batch responses for Kafka and SQS batches, idempotency per event id, remembering
effects, and masking before anything is logged.

This is glue over Powertools, not the domain: the domain modules never import it.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig
from botocore.exceptions import BotoCoreError, ClientError

from storefront.adapters.aws import MARK_RETRY_CONFIG
from storefront.events import PERSONAL_FIELDS, SENSITIVE_FIELDS, DomainEvent, MalformedEvent, parse_event

# Types only: at run time the EventBridge handlers would load Powertools' batch utility for nothing.
if TYPE_CHECKING:
    from aws_lambda_powertools import Logger
    from aws_lambda_powertools.utilities.batch import BatchProcessor
    from aws_lambda_powertools.utilities.data_classes.kafka_event import KafkaEventRecord
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

E = TypeVar("E", bound=DomainEvent)

# Powertools' mask (aws_lambda_powertools.utilities.data_masking.constants.DATA_MASKING_STRING; a
# contract test holds the two equal). Not imported: that module loads DataMasking and jsonpath_ng,
# about 20 ms of every cold start, for one string.
MASK = "*****"


def event_from_kafka(record: KafkaEventRecord) -> DomainEvent:
    """The domain event in a Kafka record's value; MalformedEvent names the record, never its data."""
    where = f"{record.topic}-{record.partition}@{record.offset}"
    if record.get("value") is None:  # a tombstone: Lambda leaves the value out
        raise MalformedEvent(f"{where}: no value (a tombstone is not an event)")
    try:
        return parse_event(record.decoded_value)
    except MalformedEvent as error:
        raise MalformedEvent(f"{where}: {error}") from None


def expect_event(record: KafkaEventRecord, event_class: type[E]) -> E:
    """The record's event, which must be an `event_class`: a topic carries one kind of event."""
    event = event_from_kafka(record)
    if not isinstance(event, event_class):
        where = f"{record.topic}-{record.partition}@{record.offset}"
        raise MalformedEvent(f"{where}: expected {event_class.__name__}, got {event.event_type}")
    return event


def event_from_eventbridge(envelope: dict[str, Any]) -> DomainEvent:
    """The domain event in an EventBridge envelope's `detail`."""
    detail = envelope.get("detail")
    if not isinstance(detail, dict):
        raise MalformedEvent(f"EventBridge event {envelope.get('id', '?')} has no detail object")
    return parse_event(detail)


def erased(wire: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """A copy of `wire` with the named top-level fields erased, exactly as Powertools'
    `DataMasking().erase(wire, fields=[...])` erases them (a contract test compares the two).

    Not DataMasking itself: it parses a jsonpath_ng expression per field on every call (ply
    rebuilding its tables each time), about 0.3 ms an event, the most of AuditLog's time per record;
    our fields are top-level keys, which need no path language.
    """
    names = frozenset(fields)
    return {key: _erase(value) if key in names else value for key, value in wire.items()}


def _erase(value: Any) -> Any:
    # Powertools' default erase: a list keeps its length, anything else becomes one mask.
    return [MASK] * len(value) if isinstance(value, list | tuple | set) else MASK


def masked(wire: dict[str, Any], *, personal: bool = True) -> dict[str, Any]:
    """The event with secrets (and, by default, personal data) erased, fit for a log line."""
    return erased(wire, (*SENSITIVE_FIELDS, *(PERSONAL_FIELDS if personal else ())))


def log_fields(event: DomainEvent) -> dict[str, Any]:
    """The keys a log line may carry about an event: ids and type, no personal data."""
    return {"event_id": event.event_id, "event_type": event.event_type, "aggregate_id": event.aggregate_id}


def process_kafka_batch(
    event: dict[str, Any],
    context: LambdaContext,
    *,
    record_handler: Callable[[KafkaEventRecord], str],
    processor: BatchProcessor,
    logger: Logger,
) -> dict[str, Any]:
    """Powertools' partial batch processing, logged once per batch rather than once per record.

    `record_handler` returns what the record came to (an outcome word, e.g. "announced"); the batch
    ends with one INFO line counting records by outcome. Every event is logged already, masked, by
    AuditLog: a line per record here would repeat it at up to 10,000 lines a batch (a Powertools
    line costs as much as the record's own work). A failed record still gets its WARNING line.
    """
    return _process_batch(event, context, record_handler, processor, logger, record_coordinates)


def process_sqs_batch(
    event: dict[str, Any],
    context: LambdaContext,
    *,
    record_handler: Callable[[SQSRecord], str],
    processor: BatchProcessor,
    logger: Logger,
) -> dict[str, Any]:
    """process_kafka_batch for an SQS event: a failed message is named by its messageId, the
    itemIdentifier Lambda's partial batch response reports it by."""
    return _process_batch(event, context, record_handler, processor, logger, message_coordinates)


def _process_batch(event, context, record_handler, processor, logger, coordinates) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import process_partial_response  # loaded by the caller already

    outcomes: Counter[str] = Counter()

    def counted(record) -> None:
        try:
            outcome = record_handler(record)
        except Exception as error:
            logger.warning("record failed", extra={**coordinates(record), "error": _safe_error(error)})
            raise
        outcomes[outcome] += 1

    response = process_partial_response(
        event=event, record_handler=counted, processor=processor, context=context
    )
    failed = len(response.get("batchItemFailures", ()))
    logger.info(
        "batch processed",
        extra={"records": outcomes.total() + failed, "failed": failed, "outcomes": dict(outcomes)},
    )
    return response


def message_coordinates(record: SQSRecord) -> dict[str, Any]:
    return {
        "message_id": record.message_id,
        "receive_count": record.attributes.approximate_receive_count,
    }


def record_coordinates(record: KafkaEventRecord) -> dict[str, Any]:
    return {"topic": record.topic, "partition": record.partition, "offset": record.offset}


def _safe_error(error: Exception) -> str:
    # Our errors name ids and fields, never values (MalformedEvent, AccountConflict, ...); others,
    # a boto3 ClientError say, may quote what was sent, so only their type is logged.
    if type(error).__module__.startswith("storefront."):
        return f"{type(error).__name__}: {error}"
    code = getattr(error, "response", {}).get("Error", {}).get("Code")
    return f"{type(error).__name__} ({code})" if code else type(error).__name__


class ReleasingPersistenceLayer(DynamoDBPersistenceLayer):
    """Powertools' DynamoDB persistence layer, except that an event whose result cannot be saved, or
    whose in-progress record cannot be deleted after a failure, is released: the record is deleted
    (again), so Lambda's retry runs the function again instead of meeting the record still in
    progress.

    Powertools leaves that record until the invocation's deadline (the Lambda context's remaining
    time), and a Kafka mapping retries a failed record at once: every retry before the deadline
    fails with IdempotencyAlreadyInProgressError, and after MaximumRetryAttempts the valid record is
    parked (measured: 1 of 1,632 records on the business day with 20 % of calls throttled, seed 3).
    Running the function again is safe: its effects are guarded by conditional writes and marks,
    as after the deadline. The error is still raised, so the record fails and is retried.
    """

    def _update_record(self, data_record: DataRecord) -> None:
        try:
            super()._update_record(data_record)
        except (ClientError, BotoCoreError):
            self._release(data_record)
            raise

    def _delete_record(self, data_record: DataRecord) -> None:
        try:
            super()._delete_record(data_record)
        except (ClientError, BotoCoreError):
            self._release(data_record)
            raise

    def _release(self, data_record: DataRecord) -> None:
        # Best effort: if this delete fails too, the record waits for its deadline, as Powertools has it.
        with contextlib.suppress(ClientError, BotoCoreError):
            super()._delete_record(data_record)


def idempotency_store() -> DynamoDBPersistenceLayer:
    # A client of boto3's default session, which the handler's own clients share: Powertools would
    # otherwise open a new Session, which loads and parses DynamoDB's service model a second time
    # (about 0.2 s of every cold start; see BENCHMARKS.md, cold start).
    # More attempts, as for marks: saving the result (or deleting the record after a failure) comes
    # after the effects; when it fails anyway the event is released (ReleasingPersistenceLayer).
    return ReleasingPersistenceLayer(
        table_name=os.environ["IDEMPOTENCY_TABLE_NAME"],
        boto3_client=boto3.client("dynamodb", config=MARK_RETRY_CONFIG),
    )


def idempotency_config() -> IdempotencyConfig:
    """One record per event id: a redelivered event (same id) is answered from its record.

    The idempotent functions take the id as their `event_id` argument (data_keyword_argument), which
    Powertools hashes as it is, and the event itself as another argument, which it leaves alone.
    Handing Powertools the whole event would cost a dump, a deep copy and a JMESPath search per record
    for the same key: the MD5 of the id's JSON, as the "eventId" JMESPath over the wire form gave.
    """
    return IdempotencyConfig(expires_after_seconds=7 * 24 * 3600, raise_on_no_idempotency_key=True)


def remember_effect(write: Callable[[], Any], *, effect: str, event: DomainEvent, logger: Logger) -> bool:
    """Write the mark of an effect that is done (an email sent, a request queued); False if it failed.

    Its failure is logged, not raised: the effect happened, and failing the record would only make
    the retry do it again. Powertools then stores the function's result as completed, which answers
    every redelivery of the event as the mark would; only if that write fails too (or the process
    dies first) does a retry, after the in-progress record expires, repeat the effect.
    """
    try:
        write()
    except (ClientError, BotoCoreError) as error:
        logger.warning(
            "effect done but not marked",
            extra={**log_fields(event), "effect": effect, "error": _safe_error(error)},
        )
        return False
    return True
