"""What every reaction's handler shares: reading events out of Kafka records and EventBridge
envelopes, partial batch responses for Kafka and SQS batches, a batch's announcements (and SQS
messages) sent together, remembering effects, and masking before anything is logged. A reaction's
idempotency is its own conditional write (storefront.adapters), not a table of its own.

This is glue over Powertools, not the domain: the domain modules never import it.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from storefront.adapters.bus import EventBus
from storefront.events import PERSONAL_FIELDS, SENSITIVE_FIELDS, DomainEvent, MalformedEvent, parse_event

# Types only: at run time the EventBridge handlers would load Powertools' batch utility for nothing.
if TYPE_CHECKING:
    from aws_lambda_powertools import Logger
    from aws_lambda_powertools.utilities.batch import BatchProcessor
    from aws_lambda_powertools.utilities.data_classes.kafka_event import KafkaEventRecord
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
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


class BatchAnnouncements:
    """What a batch's records announce, put on the bus ten to a PutEvents request once every record
    has run, instead of a request per record (storefront.adapters.bus).

    A record handler calls `add` with what its record announces; process_kafka_batch and
    process_sqs_batch send it all at the end and report the records whose announcements the bus did
    not accept as failed (batchItemFailures), so the event source retries them. A retried record's
    reaction finds its own write done and announces again, with the same deterministic event id,
    which every subscriber dedupes on: announcements are at least once, as EventBridge's delivery is.
    A record that fails announces nothing (its retry will).
    """

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self._record: Any = None
        self._pending: list[tuple[Any, DomainEvent]] = []

    def add(self, *events: DomainEvent) -> None:
        if self._record is None:  # outside a batch (a direct call): announce at once
            self._bus.announce(*events)
            return
        self._pending += [(self._record, event) for event in events]

    @contextlib.contextmanager
    def of(self, record: Any):
        """Announcements added inside are the record's; dropped if the record fails."""
        self._record = record
        mark = len(self._pending)
        try:
            yield
        except BaseException:
            del self._pending[mark:]
            raise
        finally:
            self._record = None

    def send(self) -> list[Any]:
        """Put every pending announcement on the bus; the records (each once, in order) of those refused."""
        pending, self._pending = self._pending, []
        refused = self._bus.announce_all([event for _, event in pending])
        failed: dict[int, Any] = {}
        for index in sorted(refused):
            record = pending[index][0]
            failed.setdefault(id(record), record)
        return list(failed.values())


class MessagesRefused(RuntimeError):
    """The queue did not take a message sent outside a batch."""


class BatchMessages(BatchAnnouncements):
    """BatchAnnouncements, and the messages a batch's records put on a queue, sent before the
    announcements by the queue's `send_all` (ten to a SendMessageBatch; {index: error} of those not
    taken), instead of a SendMessage per record.

    A record whose message the queue did not take fails (batchItemFailures) and its announcements
    are not sent: nothing is announced as requested that was not. Its retry sends the message again,
    so the receiver must take a copy once (a standard queue has no deduplication).
    """

    def __init__(self, bus: EventBus, queue: Any) -> None:
        super().__init__(bus)
        self._queue = queue
        self._messages: list[tuple[Any, Any]] = []

    def put(self, *messages: Any) -> None:
        if self._record is None:  # outside a batch (a direct call): send at once
            if refused := self._queue.send_all(messages):
                raise MessagesRefused(f"{len(refused)} message(s) not taken: {sorted(set(refused.values()))}")
            return
        self._messages += [(self._record, message) for message in messages]

    @contextlib.contextmanager
    def of(self, record: Any):
        mark = len(self._messages)
        try:
            with super().of(record):
                yield
        except BaseException:
            del self._messages[mark:]
            raise

    def send(self) -> list[Any]:
        pending, self._messages = self._messages, []
        refused = self._queue.send_all([message for _, message in pending]) if pending else {}
        failed: dict[int, Any] = {}
        for index in sorted(refused):
            failed.setdefault(id(pending[index][0]), pending[index][0])
        self._pending = [(record, event) for record, event in self._pending if id(record) not in failed]
        return [*failed.values(), *(record for record in super().send() if id(record) not in failed)]


def process_kafka_batch(
    event: dict[str, Any],
    context: LambdaContext,
    *,
    record_handler: Callable[[KafkaEventRecord], str],
    processor: BatchProcessor,
    logger: Logger,
    announcements: BatchAnnouncements | None = None,
) -> dict[str, Any]:
    """Powertools' partial batch processing, logged once per batch rather than once per record.

    `record_handler` returns what the record came to (an outcome word, e.g. "announced"); the batch
    ends with one INFO line counting records by outcome. Every event is logged already, masked, by
    AuditLog: a line per record here would repeat it at up to 10,000 lines a batch (a Powertools
    line costs as much as the record's own work). A failed record still gets its WARNING line.
    """
    return _process_batch(
        event, context, record_handler, processor, logger, announcements, record_coordinates, _kafka_failure
    )


def process_sqs_batch(
    event: dict[str, Any],
    context: LambdaContext,
    *,
    record_handler: Callable[[SQSRecord], str],
    processor: BatchProcessor,
    logger: Logger,
    announcements: BatchAnnouncements | None = None,
) -> dict[str, Any]:
    """process_kafka_batch for an SQS event: a failed message is named by its messageId, the
    itemIdentifier Lambda's partial batch response reports it by."""
    return _process_batch(
        event, context, record_handler, processor, logger, announcements, message_coordinates, _sqs_failure
    )


def _process_batch(
    event, context, record_handler, processor, logger, announcements, coordinates, failure
) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import process_partial_response  # loaded by the caller already

    # id(record) -> (record, what it came to) for the records that succeeded; the record is kept so
    # that its id is not reused by the next record's object.
    outcomes: dict[int, tuple[Any, str]] = {}

    def counted(record) -> None:
        try:
            with announcements.of(record) if announcements is not None else contextlib.nullcontext():
                outcome = record_handler(record)
        except Exception as error:
            logger.warning("record failed", extra={**coordinates(record), "error": _safe_error(error)})
            raise
        outcomes[id(record)] = (record, outcome)

    response = process_partial_response(
        event=event, record_handler=counted, processor=processor, context=context
    )
    if announcements is not None:
        for record in announcements.send():
            logger.warning(
                "record failed", extra={**coordinates(record), "error": "announcement not accepted"}
            )
            outcomes.pop(id(record), None)
            failures = response.setdefault("batchItemFailures", [])
            if failure(record) not in failures:
                failures.append(failure(record))
    failed = len(response.get("batchItemFailures", ()))
    logger.info(
        "batch processed",
        extra={
            "records": len(outcomes) + failed,
            "failed": failed,
            "outcomes": dict(Counter(o for _, o in outcomes.values())),
        },
    )
    return response


def _kafka_failure(record: KafkaEventRecord) -> dict[str, Any]:
    # A Kafka mapping's partial batch response names a record by its partition ("<topic>-<partition>",
    # as the event's records are keyed) and offset, as Powertools' BatchProcessor reports it.
    return {"itemIdentifier": {"partition": f"{record.topic}-{record.partition}", "offset": record.offset}}


def _sqs_failure(record: SQSRecord) -> dict[str, Any]:
    return {"itemIdentifier": record.message_id}


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


def remember_effect(write: Callable[[], Any], *, effect: str, event: DomainEvent, logger: Logger) -> bool:
    """Write the mark of an effect that is done (an email sent, a request queued); False if it failed.

    Its failure is logged, not raised: the effect happened, and failing the record would only make
    the retry do it again. A redelivery of that event then repeats the effect (README, "Exactly
    once, and where it cannot be").
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
