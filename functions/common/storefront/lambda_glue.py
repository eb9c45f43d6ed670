"""What every reaction's handler shares: reading events out of Kafka records and EventBridge
envelopes, idempotency per event id, and masking before anything is logged or archived.

This is glue over Powertools, not the domain: the domain modules never import it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, TypeVar

import boto3
from aws_lambda_powertools.utilities.data_classes.kafka_event import KafkaEventRecord
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

from storefront.events import PERSONAL_FIELDS, SENSITIVE_FIELDS, DomainEvent, MalformedEvent, parse_event

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


def idempotency_store() -> DynamoDBPersistenceLayer:
    # A client of boto3's default session, which the handler's own clients share: Powertools would
    # otherwise open a new Session, which loads and parses DynamoDB's service model a second time
    # (about 0.2 s of every cold start; see BENCHMARKS.md, cold start).
    return DynamoDBPersistenceLayer(
        table_name=os.environ["IDEMPOTENCY_TABLE_NAME"], boto3_client=boto3.client("dynamodb")
    )


def idempotency_config() -> IdempotencyConfig:
    # One record per event id: a redelivered event (same id) is answered from the record.
    return IdempotencyConfig(event_key_jmespath="eventId", expires_after_seconds=7 * 24 * 3600)
