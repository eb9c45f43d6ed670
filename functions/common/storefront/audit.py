"""The audit trail: what a log line about an event may show, and how events are archived.

Every event is logged once (secrets and personal data erased) and archived to S3 as JSON Lines
(only secrets erased: the archive must be able to rebuild the read model). Layout:

    topic=<topic>/date=YYYY-MM-DD/hour=HH/<partition>-<first offset>-<digest>.jsonl   (Kafka)
    bus=<source>/date=YYYY-MM-DD/hour=HH/<first event id>-<digest>.jsonl              (EventBridge)

partitioned by the hour of the event's own time (`occurredAt`, UTC), so a replay "as of" a time
reads whole hours. A Kafka line carries the record's coordinates (topic, partition, offset,
timestamp, timestampType, key) beside the event; a bus line, the EventBridge envelope (its id
included). Bus events come in batches of the audit queue's messages (an EventBridge rule's SQS
target), one object per source and hour of a batch; a message delivered again, alone or in another
batch, is archived again in another object, and readers drop it by the event's id. Object keys derive from the coordinates of the
records in them, never from the time of processing: a redelivered batch overwrites its objects.
A batch retried with other bounds (partial batch response, split batch on error:
https://docs.aws.amazon.com/lambda/latest/dg/kafka-retry-configurations.html) may archive a record
again in another object, so readers drop duplicates by (topic, partition, offset) or by event id.
Pure: no AWS, no Powertools (the handler erases the fields, as Powertools data masking does:
storefront.lambda_glue.erased).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from storefront.events import PERSONAL_FIELDS, SENSITIVE_FIELDS, DomainEvent, MalformedEvent

# What is erased (with Powertools' mask): everywhere the password hash; in logs, personal data too.
LOG_ERASED_FIELDS = (*SENSITIVE_FIELDS, *PERSONAL_FIELDS)
ARCHIVE_ERASED_FIELDS = SENSITIVE_FIELDS

KAFKA_EVENT_SOURCES = ("aws:kafka", "SelfManagedKafka")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class UnknownInvocation(ValueError):
    """The function was invoked with neither a Kafka batch nor an EventBridge event."""


def invocation_kind(event: dict[str, Any]) -> Literal["kafka", "sqs", "eventbridge"]:
    """Which trigger sent `event`: an MSK / self-managed Kafka batch, a batch of the audit queue's
    messages (SQS), or an EventBridge rule targeting the function itself."""
    if event.get("eventSource") in KAFKA_EVENT_SOURCES and isinstance(event.get("records"), dict):
        return "kafka"
    records = event.get("Records")
    if isinstance(records, list) and records and all(_is_sqs_message(r) for r in records):
        return "sqs"
    if _is_envelope(event):
        return "eventbridge"
    raise UnknownInvocation(
        f"not a Kafka batch, an SQS batch nor an EventBridge event (keys: {sorted(event)[:10]})"
    )


def envelope_of_message(body: str, message_id: str) -> dict[str, Any]:
    """The EventBridge event in the body of a message a rule sent to the queue: the whole event as
    JSON, since the rule has no InputPath or InputTransformer ("Event bus targets in Amazon
    EventBridge", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-targets.html).
    MalformedEvent names the message, never its content."""
    try:
        envelope = json.loads(body)
    except ValueError:
        raise MalformedEvent(f"SQS message {message_id}: the body is not JSON") from None
    if not isinstance(envelope, dict) or not _is_envelope(envelope):
        raise MalformedEvent(f"SQS message {message_id}: the body is not an EventBridge event")
    return envelope


def _is_sqs_message(record: Any) -> bool:
    return isinstance(record, dict) and record.get("eventSource") == "aws:sqs"


def _is_envelope(event: dict[str, Any]) -> bool:
    return {"detail-type", "source", "detail"} <= event.keys()


@dataclass(frozen=True)
class KafkaCoordinates:
    topic: str
    partition: int
    offset: int
    timestamp: int  # epoch milliseconds, as Kafka gives it
    timestamp_type: str
    key: bytes | None

    @classmethod
    def of(cls, record: Any) -> KafkaCoordinates:
        """From a record of the Lambda Kafka event (Powertools' KafkaEventRecord or alike)."""
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            timestamp=record.timestamp,
            timestamp_type=record.timestamp_type,
            key=record.decoded_key,
        )

    def log_fields(self) -> dict[str, Any]:
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset}

    def line_fields(self) -> dict[str, Any]:
        """Everything a replay needs to put the record back where it was, or to order it."""
        fields: dict[str, Any] = {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "timestamp": self.timestamp,
            "timestampType": self.timestamp_type,
        }
        try:
            fields["key"] = None if self.key is None else self.key.decode("utf-8")
        except UnicodeDecodeError:  # storefront keys are ids (text); anything else is kept exactly
            fields["key"], fields["keyBase64"] = None, base64.b64encode(self.key).decode("ascii")
        return fields


@dataclass(frozen=True)
class BusCoordinates:
    """The EventBridge envelope around the event (without its detail)."""

    id: str
    source: str
    detail_type: str
    time: str
    account: str | None = None
    region: str | None = None
    resources: tuple[str, ...] = field(default=())

    @classmethod
    def of(cls, envelope: dict[str, Any]) -> BusCoordinates:
        return cls(
            id=str(envelope.get("id", "")),
            source=str(envelope["source"]),
            detail_type=str(envelope["detail-type"]),
            time=str(envelope.get("time", "")),
            account=envelope.get("account"),
            region=envelope.get("region"),
            resources=tuple(envelope.get("resources") or ()),
        )

    def log_fields(self) -> dict[str, Any]:
        return {"source": self.source, "detail_type": self.detail_type, "bus_event_id": self.id}

    def line_fields(self) -> dict[str, Any]:
        return {
            "bus": {
                "id": self.id,
                "source": self.source,
                "detailType": self.detail_type,
                "time": self.time,
                "account": self.account,
                "region": self.region,
                "resources": list(self.resources),
            }
        }


def log_fields(event: DomainEvent, where: KafkaCoordinates | BusCoordinates) -> dict[str, Any]:
    """The ids a log line about an event carries (its masked content goes beside them)."""
    return {
        "event_type": event.event_type,
        "event_id": event.event_id,
        "aggregate_id": event.aggregate_id,
        **where.log_fields(),
    }


@dataclass(frozen=True)
class ArchiveLine:
    prefix: str  # "topic=<topic>" or "bus=<source>"
    partition: int | None  # Kafka partition; None on the bus
    position: int | str  # Kafka offset, or the event id on the bus
    event_time: datetime
    body: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps(self.body, ensure_ascii=False, separators=(",", ":"))


def archive_line(
    event: DomainEvent, archived: dict[str, Any], where: KafkaCoordinates | BusCoordinates
) -> ArchiveLine:
    """One JSON Lines entry: the coordinates, then `archived` (the event with secrets erased)."""
    body = {**where.line_fields(), "event": archived}
    if isinstance(where, KafkaCoordinates):
        return ArchiveLine(
            f"topic={_segment(where.topic)}", where.partition, where.offset, _utc(event.occurred_at), body
        )
    return ArchiveLine(f"bus={_segment(where.source)}", None, event.event_id, _utc(event.occurred_at), body)


@dataclass(frozen=True)
class ArchiveObject:
    key: str
    body: bytes

    @property
    def line_count(self) -> int:
        return self.body.count(b"\n")


def archive_objects(lines: Iterable[ArchiveLine]) -> list[ArchiveObject]:
    """The objects to write: one per stream, partition and hour of event time, lines in offset order."""
    groups: dict[tuple[str, int | None, str], dict[Any, ArchiveLine]] = {}
    for line in lines:
        hour = line.event_time.strftime("date=%Y-%m-%d/hour=%H")
        # A record twice in one batch (a redelivery inside the batch) is archived once.
        groups.setdefault((line.prefix, line.partition, hour), {})[line.position] = line
    objects = []
    for (prefix, partition, hour), by_position in sorted(groups.items(), key=lambda g: str(g[0])):
        ordered = sorted(by_position.values(), key=lambda line: line.position)
        objects.append(
            ArchiveObject(key=f"{prefix}/{hour}/{_object_name(partition, ordered)}", body=_jsonl(ordered))
        )
    return objects


def _object_name(partition: int | None, lines: list[ArchiveLine]) -> str:
    """`<partition>-<first offset>-<digest>` or `<event id>-<digest>`: the digest covers every record's
    coordinates, so the name is the same whenever the same records are archived together."""
    identity = "\n".join(f"{line.prefix}:{partition}:{line.position}" for line in lines)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    first = lines[0].position
    return (
        f"{partition}-{first}-{digest}.jsonl"
        if partition is not None
        else f"{_segment(str(first))[:64]}-{digest}.jsonl"
    )


def _jsonl(lines: list[ArchiveLine]) -> bytes:
    return "".join(f"{line.to_json()}\n" for line in lines).encode("utf-8")


def _segment(text: str) -> str:
    """A safe S3 key segment: Kafka topics already are; bus sources and event ids may not be."""
    return _UNSAFE.sub("_", text) or "_"


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
