"""The log port: what a Kafka event source mapping needs from a partitioned, retained log.

Two adapters implement it: `EmbeddedLog` (durable files on this machine, the default) in
`embedded_log.py`, and `KafkaLog` (any real broker through confluent-kafka) in `kafka_log.py`.
Offsets follow Kafka's conventions: a committed offset is the *next* offset to read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

CREATE_TIME = "CREATE_TIME"
LOG_APPEND_TIME = "LOG_APPEND_TIME"


class UnknownTopicOrPartitionError(LookupError):
    """Kafka's UNKNOWN_TOPIC_OR_PARTITION: the topic does not exist, or has no such partition."""

    def __init__(self, topic_partition: str) -> None:
        super().__init__(f"This server does not host this topic-partition: {topic_partition}")


@dataclass(frozen=True)
class LogRecord:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = field(default=())
    timestamp_type: str = CREATE_TIME


def payload_bytes(value: Any) -> bytes | None:
    """A record's key, value or header value given from Python or JSON: bytes as they are, text as
    UTF-8, any other JSON value as its compact serialisation, None as none (no key, a tombstone)."""
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value, separators=(",", ":")).encode()


def timestamp_ms(text: str) -> int:
    """A record timestamp given as text: epoch milliseconds from digits, or an ISO 8601 time (UTC unless
    it says otherwise). ValueError, naming the text, for anything else."""
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"timestamp {text!r} is neither epoch milliseconds nor ISO 8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


class Log(Protocol):
    def create_topic(self, topic: str, partitions: int = 1) -> None:
        """Create the topic if it does not exist (idempotent)."""

    def topics(self) -> list[str]: ...

    def partitions(self, topic: str) -> int: ...

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: tuple[tuple[str, bytes], ...] = (),
        timestamp_ms: int | None = None,
        partition: int | None = None,
    ) -> LogRecord:
        """Append one record; without `partition`, a keyed record goes to murmur2(key) % partitions
        (Kafka's default partitioner), so one key's records stay in one partition, in order."""

    def read(self, topic: str, partition: int, offset: int, max_records: int) -> list[LogRecord]:
        """Up to `max_records` records from `offset` on, in offset order (empty at the end)."""

    def beginning_offset(self, topic: str, partition: int) -> int: ...

    def end_offset(self, topic: str, partition: int) -> int:
        """The offset the next produced record will get (Kafka's high watermark)."""

    def offset_for_time(self, topic: str, partition: int, timestamp_ms: int) -> int:
        """The earliest offset whose timestamp is >= timestamp_ms, or end_offset when none is."""

    def committed(self, group_id: str, topic: str, partition: int) -> int | None: ...

    def commit(self, group_id: str, topic: str, partition: int, offset: int) -> None:
        """Record `offset` as the next offset `group_id` will read from that partition."""

    def close(self) -> None: ...
