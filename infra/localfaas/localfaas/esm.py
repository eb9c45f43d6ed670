"""Kafka event source mappings: the poller that turns a partitioned log into Lambda invocations.

Emulates an AWS::Lambda::EventSourceMapping on Amazon MSK or self-managed Apache Kafka, as AWS
documents it in "Amazon MSK event source mapping", "Apache Kafka polling and stream starting
positions", "Customizable consumer group ID", "Kafka event source mapping batching behavior",
"Configuring error handling controls for Kafka event sources", "Capturing discarded batches for
Amazon MSK and self-managed Apache Kafka event sources", "Using a Kafka topic as an on-failure
destination" and "Filtering events from Amazon MSK and self-managed Apache Kafka event sources"
(https://docs.aws.amazon.com/lambda/latest/dg/with-msk.html and the pages it links):

- one consumer group per mapping: ConsumerGroupId, else the mapping's UUID; StartingPosition is
  used only while the group has no committed offset for a partition;
- batches of up to BatchSize records and 6 MB of event, gathered for up to
  MaximumBatchingWindowInSeconds (500 ms by default for Kafka); one partition's records are
  invoked strictly in offset order, partitions are independent of each other;
- FilterCriteria on `value`: records that do not match are never invoked, and their offsets are
  committed with the rest;
- offsets are committed only once the records before them succeeded, were filtered out, or were
  handed to the on-failure destination (at least once: a crash re-delivers the batch);
- function errors are retried MaximumRetryAttempts times (-1 = forever, but 10 when an on-failure
  destination is set), BisectBatchOnFunctionError halves failing batches (a split does not count
  as a retry), and records older than MaximumRecordAgeInSeconds are never sent to the function;
- records given up on go to the on-failure destination with the invocation record AWS documents
  (destinations.py delivers it), or are discarded when there is none, and the partition moves on.

No record stops its partition outside that policy (issue 9, "Faults"): the poller used to let an
exception out of filtering or out of building an event escape poll_once, and `localfaas up` polled
the same record again forever ("poll failed; trying again"), never reaching the records behind it.
Now a record the filter cannot evaluate is filtered out (it matches no pattern; pattern.py answers for
any payload, so this is a last guard against a localfaas bug, logged), and a batch whose event cannot
be built fails like a function error ("Lambda.EventBuildError"), so it goes through
MaximumRetryAttempts, BisectBatchOnFunctionError and the on-failure destination like any failed batch.
Only an exception out of `invoke` itself still propagates: that is a crash of the poller, and the
batch is delivered again (at least once).

With FunctionResponseTypes [ReportBatchItemFailures], the function may answer
``{"batchItemFailures": [{"itemIdentifier": {"partition": "<topic>-<partition>", "offset": <n>}}]}``
(the shape Powertools' BatchProcessor returns for Kafka). "Partial batch response - Allow your
function to return information about which records in a batch failed processing, so Lambda can retry
only the failed records" (Configuring error handling controls for Kafka event sources,
https://docs.aws.amazon.com/lambda/latest/dg/kafka-retry-configurations.html), so:

- the records not reported are done: never invoked again, never sent to the destination;
- the reported ones are retried as a batch of their own, in offset order, under the same
  MaximumRetryAttempts, MaximumRecordAgeInSeconds and (should a retry raise) BisectBatchOnFunctionError;
  when retries run out only they go to the destination ("Lambda sends the failed records", Using a
  Kafka topic as an on-failure destination), in one invocation record whose batchSize counts them and
  whose first/last offsets are the lowest and highest of them (the SQS/SNS/S3 record has no room for
  a list of offsets; a Kafka destination gets one message per record);
- AWS does not say whether later records of the partition flow while failed ones are retried; here
  the partition waits until they are settled, as it does for a function error, so records keep their
  order of first delivery and a retried record never overtakes a later one's first invocation;
- Kafka keeps one committed offset per partition, so it stays at the lowest unsettled record: a crash
  while reported records are retried re-delivers them and the succeeded records after them (at least
  once), and never loses one;
- a response that names no itemIdentifier, a partition other than the batch's, or an offset not in
  the batch fails the whole batch (retried, and bisected if enabled), as AWS documents for streams
  ("Lambda treats a batch as a complete failure if you return ... An itemIdentifier with a bad key
  name", Success and failure conditions in "Configuring partial batch response with Kinesis Data
  Streams and Lambda"); no Kafka page says otherwise. An empty or null list is complete success.

The batch lifecycle above (order, batching, filtering, retries, bisection, age, partial responses,
the destination) is shared with the Kinesis and DynamoDB Streams mappings and lives in
ordered_batches.py; this module holds what is Kafka's own: the configuration, the log's offsets and
consumer group, the event, the partition/offset identifiers and the Kafka destination. (Near 500
lines: the Kafka configuration and its reader of the log belong to one mapping; the property reader
they share with the streams is mapping_properties.py.)

Not emulated: consumer-group rebalancing across pollers (one mapping owns all partitions of its
topic), provisioned/on-demand poller scaling (AWS requires provisioned mode for the error handling
controls and Kafka destinations; localfaas does not check), retry back-off (a failed batch is
retried on the next poll), schema registries, authentication (SourceAccessConfigurations),
MetricsConfig.

Just past 400 lines: the Kafka mapping's configuration, its partition reader over the log, its event
and its destinations; the batch rules it shares with streams are in ordered_batches.py.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from localfaas.destinations import (
    Destinations,
    failed_batch_record,
    failed_record_message,
    parse_destination,
    s3_object_key,
)
from localfaas.kafka_event import kafka_event, record_payload
from localfaas.log import Log, LogRecord
from localfaas.mapping_properties import InvalidEventSourceMappingError, MappingProperties
from localfaas.ordered_batches import (
    MAX_PAYLOAD_BYTES,
    Batch,
    Invoke,
    OrderedBatches,
    PartitionState,
    PollReport,
)
from localfaas.pattern import matches_filter_criteria

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "EventSourceMappingConfig",
    "InvalidEventSourceMappingError",
    "KafkaEventSourceMapping",
    "PollReport",
    "is_kafka_event_source_mapping",
]

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 100
DEFAULT_KAFKA_BATCHING_WINDOW_S = 0.5
# "When you configure both infinite retries and an on-failure destination, Lambda automatically
# applies a maximum of 10 retry attempts." (Configuring error handling controls for Kafka event sources)
RETRIES_WITH_DESTINATION = 10

_TOPIC = re.compile(r"[^.]([a-zA-Z0-9\-_.]+)")
_CONSUMER_GROUP = re.compile(r"[a-zA-Z0-9\-/*:_+=.@]*")


def is_kafka_event_source_mapping(properties: Mapping[str, Any]) -> bool:
    """True for an MSK (EventSourceArn arn:...:kafka:...) or self-managed Kafka mapping."""
    arn = properties.get("EventSourceArn")
    return "SelfManagedEventSource" in properties or (isinstance(arn, str) and ":kafka:" in arn)


# -- configuration --------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventSourceMappingConfig:
    """A resolved AWS::Lambda::EventSourceMapping for Kafka, validated against AWS's ranges."""

    logical_id: str
    function_name: str
    function_arn: str
    uuid: str
    source: str  # "msk" | "self-managed"
    topics: tuple[str, ...]
    event_source_arn: str | None
    bootstrap_servers: tuple[str, ...]
    consumer_group_id: str
    starting_position: str
    starting_position_timestamp: float | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    batching_window_s: float = DEFAULT_KAFKA_BATCHING_WINDOW_S
    filters: tuple[dict, ...] = ()
    maximum_retry_attempts: int = -1
    bisect_batch_on_function_error: bool = False
    maximum_record_age_s: int = -1
    report_batch_item_failures: bool = False
    on_failure_destination: str | None = None
    enabled: bool = True

    @property
    def retry_limit(self) -> int | None:
        """Retries allowed after the first invocation; None for infinite."""
        if self.maximum_retry_attempts == -1:
            return RETRIES_WITH_DESTINATION if self.on_failure_destination else None
        return self.maximum_retry_attempts

    @classmethod
    def from_resource(
        cls,
        logical_id: str,
        properties: Mapping[str, Any],
        *,
        function_name: str,
        function_arn: str | None = None,
    ) -> EventSourceMappingConfig:
        """Parse the resolved Properties of a Kafka AWS::Lambda::EventSourceMapping."""
        p = _KafkaProperties(logical_id, properties)
        source, arn, servers = p.kafka_source()
        topics = p.topics()
        esm_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"localfaas:esm:{function_name}:{logical_id}"))
        position, timestamp = p.starting_position()
        return cls(
            logical_id=logical_id,
            function_name=function_name,
            function_arn=function_arn or f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}",
            uuid=esm_uuid,
            source=source,
            topics=topics,
            event_source_arn=arn,
            bootstrap_servers=servers,
            consumer_group_id=p.consumer_group_id() or esm_uuid,
            starting_position=position,
            starting_position_timestamp=timestamp,
            batch_size=p.integer("BatchSize", DEFAULT_BATCH_SIZE, 1, 10_000),
            batching_window_s=p.batching_window(),
            filters=p.filters(),
            maximum_retry_attempts=p.integer("MaximumRetryAttempts", -1, -1, 10_000),
            bisect_batch_on_function_error=p.boolean("BisectBatchOnFunctionError", False),
            maximum_record_age_s=p.record_age(),
            report_batch_item_failures=p.function_response_types(),
            on_failure_destination=p.destination(topics),
            enabled=p.boolean("Enabled", True),
        )


class _KafkaProperties(MappingProperties):
    """The properties only Kafka mappings have."""

    def kafka_source(self) -> tuple[str, str | None, tuple[str, ...]]:
        arn = self.props.get("EventSourceArn")
        self_managed = self.props.get("SelfManagedEventSource")
        if arn and self_managed:
            raise self.fail(
                "EventSourceArn", "EventSourceArn and SelfManagedEventSource are mutually exclusive"
            )
        if self_managed is not None:
            endpoints = (self_managed or {}).get("Endpoints") or {}
            # CloudFormation spells the key KafkaBootstrapServers; the Lambda API KAFKA_BOOTSTRAP_SERVERS.
            servers = endpoints.get("KafkaBootstrapServers") or endpoints.get("KAFKA_BOOTSTRAP_SERVERS")
            if not servers or not isinstance(servers, list):
                raise self.fail(
                    "SelfManagedEventSource", "Endpoints.KafkaBootstrapServers must list the brokers"
                )
            return "self-managed", None, tuple(str(s) for s in servers)
        if not isinstance(arn, str) or not re.fullmatch(r"arn:[\w-]+:kafka:[^:]*:\d*:cluster/.+", arn):
            raise self.fail("EventSourceArn", f"Value '{arn}' is not an Amazon MSK cluster ARN")
        return "msk", arn, ()

    def topics(self) -> tuple[str, ...]:
        topics = self.props.get("Topics")
        # AWS: Topics is required for Kafka and holds exactly one topic name (1-249 characters).
        if not isinstance(topics, list) or len(topics) != 1:
            raise self.violates("Topics", topics, "have length 1")
        topic = topics[0]
        if not isinstance(topic, str) or not 1 <= len(topic) <= 249 or not _TOPIC.fullmatch(topic):
            raise self.violates(
                "Topics", topic, r"satisfy regular expression pattern: ^[^.]([a-zA-Z0-9\-_.]+)"
            )
        return (topic,)

    def consumer_group_id(self) -> str | None:
        for prop in ("AmazonManagedKafkaEventSourceConfig", "SelfManagedKafkaEventSourceConfig"):
            group = (self.props.get(prop) or {}).get("ConsumerGroupId")
            if group is None:
                continue
            name = f"{prop}.ConsumerGroupId"
            if not isinstance(group, str) or not 1 <= len(group) <= 200:
                raise self.violates(name, group, "have length between 1 and 200")
            if not _CONSUMER_GROUP.fullmatch(group):
                raise self.violates(
                    name, group, r"satisfy regular expression pattern: [a-zA-Z0-9-\/*:_+=.@-]*"
                )
            return group
        return None

    def batching_window(self) -> float:
        if self.props.get("MaximumBatchingWindowInSeconds") is None:
            return DEFAULT_KAFKA_BATCHING_WINDOW_S
        return float(self.integer("MaximumBatchingWindowInSeconds", 0, 0, 300))


# -- the poller -----------------------------------------------------------------------------------


class _LogPartition:
    """One partition of the log as ordered_batches reads it: offsets, and the group's committed offset."""

    def __init__(
        self, log: Log, group: str, topic: str, partition: int, position: int, committed: int
    ) -> None:
        self.topic, self.partition = topic, partition
        self.key = f"{topic}-{partition}"
        self.position = position  # next offset to read from the log
        self.committed = committed
        self._log, self._group = log, group

    def peek(self, limit: int) -> list[LogRecord]:
        return self._log.read(self.topic, self.partition, self.position, limit)

    def advance(self, past: LogRecord) -> None:
        self.position = past.offset + 1

    def checkpoint(self, unsettled: list[LogRecord]) -> None:
        """Commit up to the first record still in flight (or everything read so far)."""
        target = min((r.offset for r in unsettled), default=self.position)
        if target > self.committed:
            self._log.commit(self._group, self.topic, self.partition, target)
            self.committed = target


class KafkaEventSourceMapping(OrderedBatches):
    """Polls the log for one mapping and invokes its function. Drive it with poll_once() (one round)
    or run_until_caught_up(); `stats` adds up every round's PollReport. The batch rules are
    ordered_batches'; what is Kafka's own is here: the log's offsets, the event, the partial batch
    response's partition/offset identifiers and the Kafka destination's one message per record.

    `invoke(function_name, event)` reports a function error as an InvocationResult whose `error` is
    set; an exception out of `invoke` is taken for a crash of the poller itself and propagates with
    nothing committed, so the batch is delivered again by the next poller (at least once)."""

    def __init__(
        self,
        config: EventSourceMappingConfig,
        log: Log,
        invoke: Invoke,
        destinations: Destinations | None = None,
        *,
        clock: Callable[[], float] = time.time,
        source: str | None = None,
        bootstrap_servers: str | None = None,
    ) -> None:
        super().__init__(config, invoke, destinations, clock)
        self.config = config
        self._log = log
        self._source = source or config.source
        self._bootstrap_servers = bootstrap_servers or ",".join(config.bootstrap_servers) or "localhost:9092"
        self._partitions: dict[tuple[str, int], PartitionState] = {}
        self._envelope: int | None = None
        if config.enabled:
            self._assigned()  # the mapping's starting position is where it stands when it starts

    # -- public -----------------------------------------------------------------------------------

    def poll_once(self, *, flush: bool = False) -> PollReport:
        """One round: per partition, at most one invocation (a new batch or a retry), plus whatever
        can be settled without invoking. `flush` invokes partial batches without waiting out the window."""
        report = PollReport()
        if self.config.enabled:
            for state in self._assigned():
                self._poll_partition(state, report, flush)
        self.stats.add(report)
        return report

    def run_until_caught_up(self, *, max_rounds: int = 10_000) -> PollReport:
        """Poll (flushing) until every partition is committed to its end, or `max_rounds` passed
        (a batch failing forever with infinite retries and no destination blocks its partition)."""
        total = PollReport()
        for _ in range(max_rounds):
            total.add(self.poll_once(flush=True))
            if self.caught_up():
                break
        return total

    def lag(self) -> dict[str, int]:
        """Records not yet settled, per "<topic>-<partition>"."""
        lags = {}
        for state in self._assigned():
            reader = self._reader(state)
            lags[reader.key] = self._log.end_offset(reader.topic, reader.partition) - reader.committed
        return lags

    def caught_up(self) -> bool:
        return not any(self.lag().values())

    # -- partitions and offsets -------------------------------------------------------------------

    def _assigned(self) -> list[PartitionState]:
        """All partitions of the mapping's topics: one mapping is the only consumer of its group."""
        known = set(self._log.topics())
        states = []
        for topic in self.config.topics:
            if topic not in known:
                continue
            for partition in range(self._log.partitions(topic)):
                if (topic, partition) not in self._partitions:
                    self._partitions[(topic, partition)] = PartitionState(self._start(topic, partition))
                states.append(self._partitions[(topic, partition)])
        return states

    @staticmethod
    def _reader(state: PartitionState) -> _LogPartition:
        assert isinstance(state.reader, _LogPartition)
        return state.reader

    def _start(self, topic: str, partition: int) -> _LogPartition:
        """Resume from the group's committed offset; only without one, use StartingPosition and commit
        it at once, so the position stays where the mapping started (as an AWS mapping's does)."""
        group = self.config.consumer_group_id
        committed = self._log.committed(group, topic, partition)
        if committed is None:
            committed = self._starting_offset(topic, partition)
            self._log.commit(group, topic, partition, committed)
        position = max(committed, self._log.beginning_offset(topic, partition))
        return _LogPartition(self._log, group, topic, partition, position=position, committed=committed)

    def _starting_offset(self, topic: str, partition: int) -> int:
        position = self.config.starting_position
        if position == "TRIM_HORIZON":
            return self._log.beginning_offset(topic, partition)
        if position == "LATEST":
            return self._log.end_offset(topic, partition)
        timestamp_ms = int((self.config.starting_position_timestamp or 0) * 1000)
        return self._log.offset_for_time(topic, partition, timestamp_ms)

    # -- Kafka's hooks of the batch rules ---------------------------------------------------------

    def _timestamp_s(self, record: LogRecord) -> float:
        return record.timestamp_ms / 1000

    def _batch_event(self, state: PartitionState, records: list[LogRecord]) -> dict[str, Any]:
        return self._event(records)

    def _reported(self, state: PartitionState, batch: Batch, failures: list) -> list[LogRecord] | None:
        """The reported records, retried alone ("so Lambda can retry only the failed records"); None
        when an itemIdentifier is missing, or names a partition or offset not in the batch."""
        offsets = {r.offset for r in batch.records}
        failed = set()
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if not isinstance(identifier, dict) or identifier.get("partition") != state.key:
                return None
            offset = identifier.get("offset")
            if isinstance(offset, bool) or not isinstance(offset, int) or offset not in offsets:
                return None
            failed.add(offset)
        return [r for r in batch.records if r.offset in failed]

    def _send(self, state: PartitionState, batch: Batch, destination: str, report: PollReport) -> None:
        if parse_destination(destination).kind == "kafka":
            self._send_each(state, batch, destination, report)
        else:
            self._send_batch(state, batch, destination)
            report.records_to_destination += len(batch.records)

    def _send_each(self, state: PartitionState, batch: Batch, destination: str, report: PollReport) -> None:
        """A Kafka destination gets one message per failed record, keyed like the original; a record
        leaves the batch once sent, so a retry after a failed send does not duplicate it."""
        assert self._destinations is not None
        while batch.records:
            record = batch.records[0]
            message = failed_record_message(self._failure(batch), record, self._event_or_envelope([record]))
            self._destinations.send(destination, message, key=record.key)
            batch.records.pop(0)
            report.records_to_destination += 1
            if batch.records:
                self._commit(state)

    def _send_batch(self, state: PartitionState, batch: Batch, destination: str) -> None:
        assert self._destinations is not None
        is_s3 = parse_destination(destination).kind == "s3"
        event = self._event_or_envelope(batch.records)
        document = failed_batch_record(self._failure(batch), batch.records, event, is_s3)
        key = s3_object_key(self.config.uuid, state.key, self._clock()) if is_s3 else None
        self._destinations.send(destination, document, object_key=key)

    # -- events -----------------------------------------------------------------------------------

    def _event(self, records: list[LogRecord]) -> dict[str, Any]:
        arn = self.config.event_source_arn if self._source == "msk" else None  # self-managed events have none
        return kafka_event(
            records, source=self._source, event_source_arn=arn, bootstrap_servers=self._bootstrap_servers
        )

    def _event_or_envelope(self, records: list[LogRecord]) -> dict[str, Any]:
        """The event for the destination's record; when it cannot be built (the batch failed for that),
        the event without its records, so the invocation record still reaches the destination and
        names the offsets."""
        try:
            return self._event(records)
        except Exception:
            return self._event([])

    def _record_size(self, record: LogRecord) -> int:
        try:
            return len(json.dumps(record_payload(record)).encode()) + 1  # and a comma
        except Exception:  # the event will not build either: size it by its bytes, base64 and all
            return 4 * (len(record.value or b"") + len(record.key or b"")) // 3 + 1024

    def _envelope_size(self) -> int:
        if self._envelope is None:
            probe = LogRecord(self.config.topics[0], 0, 0, 0, None, None)
            self._envelope = len(json.dumps(self._event([probe])).encode()) - self._record_size(probe) + 1
        return self._envelope

    def _matches(self, record: LogRecord) -> bool:
        if not self.config.filters:
            return True
        try:
            return matches_filter_criteria(list(self.config.filters), record_payload(record))
        except Exception:
            # A record the filter cannot evaluate matches no pattern, and Lambda drops records that
            # match none ("Filtering events from Amazon MSK and self-managed Apache Kafka event
            # sources"). Failing it instead would retry a filter that fails the same way every time.
            logger.exception(
                "%s: cannot filter %s-%d@%d; filtered out",
                self.config.logical_id,
                record.topic,
                record.partition,
                record.offset,
            )
            return False
