"""The log port over a real Kafka broker (Amazon MSK, Apache Kafka, Redpanda, Tansu...) through confluent-kafka.

Clients: one Producer (acks=all; librdkafka's `murmur2_random` partitioner, which places a keyed
record exactly where Java's default partitioner does), one AdminClient (topics, partition
counts), one reading Consumer that is only ever `assign()`ed (never subscribes, never commits),
and one Consumer per consumer group used only to commit and fetch committed offsets.

`produce` is synchronous (it flushes) because the port returns the record's offset; it is for
feeding a few records, not for throughput. Topic auto-creation is the broker's business.

A broker that does not answer is found before any client is made: a metadata request, given up at
the first "all brokers are down" report or after `connect_timeout_s`, raises KafkaUnreachable with
librdkafka's reason on one line. librdkafka would otherwise retry for as long as a client lives and
print every attempt on stderr; its log lines go to the `localfaas.librdkafka` logger, at DEBUG.

Tested against Tansu (tests/tansu.py); there `end_offset` and `offset_for_time` give wrong
answers (Tansu's ListOffsets for `latest` and by timestamp), so those two are exercised on the
embedded log only. `read` does not rely on them: it stops at partition EOF, which librdkafka
derives from the fetch response's high watermark.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections import deque
from typing import Any

from confluent_kafka import (
    TIMESTAMP_LOG_APPEND_TIME,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from localfaas.log import CREATE_TIME, LOG_APPEND_TIME, LogRecord, UnknownTopicOrPartitionError

__all__ = ["KafkaLog", "KafkaUnreachable"]

_UNKNOWN = (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError._UNKNOWN_PARTITION)


def _raise_for(error: KafkaError, topic_partition: str) -> None:
    if error.code() in _UNKNOWN:
        raise UnknownTopicOrPartitionError(topic_partition)
    raise KafkaException(error)


class KafkaUnreachable(ConnectionError):
    """No broker at the bootstrap servers answered; str() is one line, with librdkafka's reason."""


class _QuietLibrdkafka:
    """librdkafka's `logger`: every line at DEBUG, where a user's logging setup does not show it by
    default (a logging.Logger given directly would show its errors on stderr, one per retry)."""

    def __init__(self) -> None:
        self._logger = logging.getLogger("localfaas.librdkafka")

    def log(self, level: int, message: str, *args: Any) -> None:
        self._logger.debug(message, *args)


_LIBRDKAFKA_LOG = _QuietLibrdkafka()
_STOP_AT = (KafkaError._ALL_BROKERS_DOWN, KafkaError._AUTHENTICATION, KafkaError._SSL)
# "HOST:PORT/bootstrap: Connect to ... failed: Connection refused (after 0ms in state CONNECT)"
_BROKER_PREFIX = re.compile(r"^\S+/(?:bootstrap|\d+): ")
_STATE_SUFFIX = re.compile(r" \(after \d+ms in state \w+\)$")


def _check_reachable(config: dict[str, Any], timeout_s: float) -> None:
    """Raise KafkaUnreachable unless a broker answers a metadata request within `timeout_s`."""
    errors: list[KafkaError] = []
    admin = AdminClient(
        {
            "socket.connection.setup.timeout.ms": max(1000, int(timeout_s * 1000)),  # librdkafka's floor
            **config,
            "error_cb": errors.append,
        }
    )
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin.list_topics(timeout=min(0.25, max(0.01, deadline - time.monotonic())))
            return
        except KafkaException:
            admin.poll(0)  # serves error_cb
        if any(error.code() in _STOP_AT for error in errors) or time.monotonic() >= deadline:
            break
    reasons = [e for e in errors if e.code() != KafkaError._ALL_BROKERS_DOWN] or errors
    reason = _one_line(reasons[0].str()) if reasons else f"no answer within {timeout_s:g} s"
    raise KafkaUnreachable(f"Kafka is not reachable at {config['bootstrap.servers']} ({reason})")


def _one_line(text: str) -> str:
    return _STATE_SUFFIX.sub("", _BROKER_PREFIX.sub("", text.strip())).replace("\n", " ")


class _PartitionReader:
    """Sequential reads over one assign()ed consumer, buffered per partition.

    Several partitions stay assigned at once, so a poller that reads them in turn keeps
    librdkafka's prefetch; a read at another offset than where the partition's stream is
    re-assigns that partition at the new offset."""

    def __init__(self, consumer: Consumer, timeout_s: float) -> None:
        self.consumer = consumer
        self._timeout_s = timeout_s
        self._buffers: dict[tuple[str, int], deque] = {}
        self._next: dict[tuple[str, int], int] = {}  # offset the caller's reading continues at
        self._fetched: dict[tuple[str, int], int] = {}  # offset the buffered stream continues at
        self._at_end: set[tuple[str, int]] = set()  # streams whose last event was partition EOF
        self._assigned: set[tuple[str, int]] = set()  # partitions being fetched (none at their end)

    def read(self, topic: str, partition: int, offset: int, max_records: int) -> list[LogRecord]:
        key = (topic, partition)
        if self._next.get(key) != offset or (key in self._at_end and not self._buffers[key]):
            # Re-assigning also re-arms partition EOF, so a read at the end is answered by the
            # next fetch (new records or EOF) rather than by a timeout.
            self._assign(key, offset)
        buffer = self._buffers[key]
        deadline = time.monotonic() + self._timeout_s
        while len(buffer) < max_records and key not in self._at_end and time.monotonic() < deadline:
            self._poll_once(deadline)
        taken = [buffer.popleft() for _ in range(min(max_records, len(buffer)))]
        if taken:
            self._next[key] = taken[-1].offset + 1
        return taken

    def _assign(self, key: tuple[str, int], offset: int) -> None:
        self._unassign(key)
        self.consumer.incremental_assign([TopicPartition(*key, offset)])
        self._assigned.add(key)
        self._buffers[key] = deque()
        self._next[key] = self._fetched[key] = offset
        self._at_end.discard(key)

    def _unassign(self, key: tuple[str, int]) -> None:
        if key in self._assigned:
            self.consumer.incremental_unassign([TopicPartition(*key)])
            self._assigned.discard(key)

    def _poll_once(self, deadline: float) -> None:
        message = self.consumer.poll(max(0.0, deadline - time.monotonic()))
        if message is None:  # a Message with an empty value is falsy: compare with None
            return
        key = (message.topic(), message.partition())
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                # Unassigned until read again (which assigns it afresh): a partition left fetching at
                # its end would cost the broker a fetch every fetch.wait.max.ms while it is idle.
                self._unassign(key)
                self._at_end.add(key)
                return
            if error.code() == KafkaError._AUTO_OFFSET_RESET:  # offset out of range: nothing to read there
                self._unassign(key)
                self._at_end.add(key)
                return
            _raise_for(error, f"{key[0]}-{key[1]}")
        # Drop what is not the continuation of the stream (a partition no longer read, or a
        # message fetched before a re-assign).
        if key in self._buffers and message.offset() >= self._fetched[key]:
            self._buffers[key].append(_to_record(message))
            self._fetched[key] = message.offset() + 1
            self._at_end.discard(key)

    def close(self) -> None:
        self.consumer.close()


def _to_record(message: Any) -> LogRecord:
    timestamp_type, timestamp_ms = message.timestamp()
    return LogRecord(
        topic=message.topic(),
        partition=message.partition(),
        offset=message.offset(),
        timestamp_ms=timestamp_ms,
        key=message.key(),
        value=message.value(),
        headers=tuple(message.headers() or ()),
        timestamp_type=LOG_APPEND_TIME if timestamp_type == TIMESTAMP_LOG_APPEND_TIME else CREATE_TIME,
    )


class KafkaLog:
    """The log port over the brokers at `bootstrap_servers`; `config` (librdkafka properties such
    as security.protocol or sasl.*) is added to every client's configuration. KafkaUnreachable when
    no broker answers within `connect_timeout_s`."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        config: dict | None = None,
        timeout_s: float = 10.0,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.timeout_s = timeout_s
        self._config = {"bootstrap.servers": bootstrap_servers, "logger": _LIBRDKAFKA_LOG, **(config or {})}
        _check_reachable(self._config, connect_timeout_s)
        self._producer = Producer(
            {"acks": "all", "partitioner": "murmur2_random", "linger.ms": 0, **self._config}
        )
        self._admin = AdminClient(self._config)
        # fetch.wait.max.ms bounds how long a read at a partition's end waits for the broker to
        # answer with EOF (a poller asks that after every batch): librdkafka's 500 ms, or even 100,
        # made the waits most of a Kafka run's time. At their end partitions are unassigned, so
        # the short wait costs nothing while idle.
        self._reader = _PartitionReader(
            self._consumer(
                f"localfaas-reader-{uuid.uuid4()}",
                {"enable.partition.eof": True, "auto.offset.reset": "error", "fetch.wait.max.ms": 10},
            ),
            timeout_s,
        )
        self._groups: dict[str, Consumer] = {}

    def _consumer(self, group_id: str, extra: dict | None = None) -> Consumer:
        # This consumer never joins the group (no subscribe), but a low session timeout keeps a
        # broker from waiting long on it should one ever treat it as a member.
        defaults = {
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "session.timeout.ms": 6000,
        }
        return Consumer({**defaults, **(extra or {}), **self._config, "group.id": group_id})

    def __enter__(self) -> KafkaLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- topics -----------------------------------------------------------------------------

    def create_topic(self, topic: str, partitions: int = 1) -> None:
        """CreateTopics with the broker's default replication factor; TOPIC_ALREADY_EXISTS is success."""
        future = self._admin.create_topics(
            [NewTopic(topic, num_partitions=partitions, replication_factor=-1)],
            operation_timeout=self.timeout_s,
        )[topic]
        try:
            future.result(self.timeout_s)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
        self._await_metadata(topic)

    def _await_metadata(self, topic: str) -> None:
        """CreateTopics returns before every broker knows the topic; wait until metadata shows it."""
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            metadata = self._admin.list_topics(timeout=self.timeout_s).topics.get(topic)
            if metadata is not None and metadata.error is None and metadata.partitions:
                return
            time.sleep(0.05)
        raise UnknownTopicOrPartitionError(topic)

    def topics(self) -> list[str]:
        """Topic names, without the broker's internal ones (`__consumer_offsets`...)."""
        topics = self._admin.list_topics(timeout=self.timeout_s).topics
        return sorted(
            name for name, metadata in topics.items() if metadata.error is None and not name.startswith("__")
        )

    def partitions(self, topic: str) -> int:
        # Listing every topic, not just this one, so that asking never auto-creates it.
        metadata = self._admin.list_topics(timeout=self.timeout_s).topics.get(topic)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            raise UnknownTopicOrPartitionError(topic)
        return len(metadata.partitions)

    # -- records ----------------------------------------------------------------------------

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: tuple[tuple[str, bytes], ...] = (),
        timestamp_ms: int | None = None,
        partition: int | None = None,
    ) -> LogRecord:
        """Produce and wait for the broker's acknowledgement (acks=all)."""
        delivered: list[tuple[KafkaError | None, Any]] = []
        options: dict[str, Any] = {"headers": list(headers)} if headers else {}
        if partition is not None:
            options["partition"] = partition
        if timestamp_ms is not None:
            options["timestamp"] = timestamp_ms
        try:
            self._producer.produce(
                topic, value=value, key=key, on_delivery=lambda e, m: delivered.append((e, m)), **options
            )
        except KafkaException as exc:  # e.g. an explicit partition the topic does not have
            _raise_for(exc.args[0], f"{topic}-{partition}")
        self._producer.flush(self.timeout_s)
        if not delivered:
            raise KafkaException(KafkaError(KafkaError._MSG_TIMED_OUT, f"no acknowledgement for {topic}"))
        error, message = delivered[0]
        if error is not None:
            _raise_for(error, f"{topic}-{partition}")
        timestamp_type, broker_timestamp = message.timestamp()
        return LogRecord(
            topic=topic,
            partition=message.partition(),
            offset=message.offset(),
            timestamp_ms=broker_timestamp,
            key=key,
            value=value,
            headers=tuple(headers),
            timestamp_type=LOG_APPEND_TIME if timestamp_type == TIMESTAMP_LOG_APPEND_TIME else CREATE_TIME,
        )

    def read(self, topic: str, partition: int, offset: int, max_records: int) -> list[LogRecord]:
        """Up to `max_records` from `offset`, stopping early at the end of the partition.
        Empty when nothing arrives within `timeout_s` (e.g. an offset beyond the end)."""
        if max_records <= 0:
            return []
        return self._reader.read(topic, partition, offset, max_records)

    # -- offsets ----------------------------------------------------------------------------

    def _watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        return self._reader.consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=self.timeout_s
        )

    def beginning_offset(self, topic: str, partition: int) -> int:
        return self._watermarks(topic, partition)[0]

    def end_offset(self, topic: str, partition: int) -> int:
        """The high watermark (ListOffsets `latest`; wrong on Tansu, see the module docstring)."""
        return self._watermarks(topic, partition)[1]

    def offset_for_time(self, topic: str, partition: int, timestamp_ms: int) -> int:
        """ListOffsets by timestamp (wrong on Tansu); the end offset when no record is that late."""
        (found,) = self._reader.consumer.offsets_for_times(
            [TopicPartition(topic, partition, timestamp_ms)], timeout=self.timeout_s
        )
        if found.error is not None:
            _raise_for(found.error, f"{topic}-{partition}")
        return found.offset if found.offset >= 0 else self.end_offset(topic, partition)

    def _group(self, group_id: str) -> Consumer:
        consumer = self._groups.get(group_id)
        if consumer is None:
            consumer = self._groups[group_id] = self._consumer(group_id)
        return consumer

    def committed(self, group_id: str, topic: str, partition: int) -> int | None:
        (found,) = self._group(group_id).committed([TopicPartition(topic, partition)], timeout=self.timeout_s)
        if found.error is not None:
            _raise_for(found.error, f"{topic}-{partition}")
        return found.offset if found.offset >= 0 else None  # OFFSET_INVALID (-1001): nothing committed

    def commit(self, group_id: str, topic: str, partition: int, offset: int) -> None:
        # A synchronous OffsetCommit outside any generation, as a standalone (assign()-only) consumer does.
        self._group(group_id).commit(offsets=[TopicPartition(topic, partition, offset)], asynchronous=False)

    def close(self) -> None:
        self._producer.flush(self.timeout_s)
        self._reader.close()
        for consumer in self._groups.values():
            consumer.close()
        self._groups.clear()
        # Producer and AdminClient have no close(): their connections go when they are freed.
        # Dropping them now matters to brokers that wait for clients on shutdown (Tansu does).
        del self._producer, self._admin
