"""Stream shards read as Lambda's poller reads them: DescribeStream/ListShards, GetShardIterator and
GetRecords on Kinesis Data Streams and on DynamoDB Streams, with a durable checkpoint per shard.

"Lambda polls each shard in your Kinesis stream for records" ("How Lambda processes records from
Amazon Kinesis Data Streams", https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html) and
"polls shards in your DynamoDB stream for records" ("Using AWS Lambda with Amazon DynamoDB",
https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html); the APIs are "GetShardIterator" and
"GetRecords" of the Kinesis Data Streams API Reference
(https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetRecords.html) and of the DynamoDB
Streams API Reference (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_GetRecords.html).
Only those calls are made, so a shard reads the same on moto, LocalStack and AWS.

`ShardReader` is ordered_batches' partition reader for one shard. Its checkpoint is the sequence
number the mapping resumes from, kept in the DurableStore (`stream-checkpoint:<mapping uuid>:<stream
identity>:<shard>`; the identity is the Kinesis stream's creation time or the DynamoDB stream's label,
so a stream made again under the same name, as a restarted in-memory backend does, starts afresh):
AT_SEQUENCE_NUMBER of the first record still in flight, or AFTER_SEQUENCE_NUMBER of the last record
read once all are settled. Before any record is read the checkpoint is the starting position; for
LATEST it is the time the mapping started, so a restart resumes from there (AT_TIMESTAMP on Kinesis;
on DynamoDB Streams, which has no AT_TIMESTAMP, from TRIM_HORIZON skipping records created before it).
An iterator that expired (ExpiredIteratorException; Kinesis iterators last 5 minutes) is made again
from the last record read. A shard is closed when GetRecords answers no NextShardIterator (it was
split or merged, or a DynamoDB shard rolled over); its children are read once it is read to its end
("Lambda processes the parent shard before the child shards", with-kinesis.html).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import ClientError

from localfaas.durable import DurableStore

__all__ = ["DynamoDBStream", "KinesisStream", "Lane", "ShardLanes", "ShardReader", "ShardRecord", "StreamApi"]

# GetRecords over a shard's read limit (5 calls a second on Kinesis) answers one of these.
_THROTTLED = ("ProvisionedThroughputExceededException", "LimitExceededException", "ThrottlingException")
# GetRecords' Limit: up to 10,000 on Kinesis, up to 1,000 on DynamoDB Streams.
KINESIS_GET_RECORDS_LIMIT = 10_000
DYNAMODB_GET_RECORDS_LIMIT = 1_000


@dataclass(frozen=True)
class ShardRecord:
    """One record read from a shard: its place, its arrival time, and its part of the Lambda event
    (the `kinesis` object of a Kinesis record; the whole DynamoDB Streams record)."""

    shard_id: str
    sequence_number: str
    arrival_s: float
    body: dict[str, Any]
    size: int

    @property
    def order(self) -> int:
        return int(self.sequence_number)


class StreamApi(Protocol):
    service: str  # "kinesis" | "dynamodb", the eventSource's service
    identity: str  # tells this stream from an earlier one of the same name (its checkpoints do not apply)

    def shards(self) -> list[dict[str, Any]]: ...

    def iterator(
        self, shard_id: str, kind: str, sequence: str | None = None, at: float | None = None
    ) -> str: ...

    def records(self, shard_id: str, iterator: str, limit: int) -> tuple[list[ShardRecord], str | None]: ...


def _epoch(value: Any) -> float:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return float(value or 0)


class KinesisStream:
    """A Kinesis data stream, by the name its ARN ends with (`arn:...:kinesis:...:stream/<name>`)."""

    service = "kinesis"

    def __init__(self, client: Any, stream_arn: str) -> None:
        self._client = client
        self.arn = stream_arn
        self.name = stream_arn.split(":stream/", 1)[-1].split("/", 1)[0]
        summary = client.describe_stream_summary(StreamName=self.name)["StreamDescriptionSummary"]
        self.identity = str(_epoch(summary.get("StreamCreationTimestamp")))

    def shards(self) -> list[dict[str, Any]]:
        shards, token = [], None
        while True:
            page = (
                self._client.list_shards(NextToken=token)
                if token
                else self._client.list_shards(StreamName=self.name)
            )
            shards += page.get("Shards", [])
            token = page.get("NextToken")
            if not token:
                return shards

    def iterator(self, shard_id: str, kind: str, sequence: str | None = None, at: float | None = None) -> str:
        request: dict[str, Any] = {"StreamName": self.name, "ShardId": shard_id, "ShardIteratorType": kind}
        if sequence is not None:
            request["StartingSequenceNumber"] = sequence
        if at is not None:
            request["Timestamp"] = dt.datetime.fromtimestamp(at, tz=dt.UTC)
        return self._client.get_shard_iterator(**request)["ShardIterator"]

    def records(self, shard_id: str, iterator: str, limit: int) -> tuple[list[ShardRecord], str | None]:
        answer = self._client.get_records(ShardIterator=iterator, Limit=min(limit, KINESIS_GET_RECORDS_LIMIT))
        records = []
        for raw in answer.get("Records", []):
            data = raw.get("Data", b"")
            data = data if isinstance(data, bytes) else str(data).encode()
            arrival = _epoch(raw.get("ApproximateArrivalTimestamp"))
            body = {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": raw["PartitionKey"],
                "sequenceNumber": raw["SequenceNumber"],
                "data": base64.b64encode(data).decode(),
                "approximateArrivalTimestamp": round(arrival, 3),
            }
            size = len(data) + len(raw["PartitionKey"].encode())
            records.append(ShardRecord(shard_id, raw["SequenceNumber"], arrival, body, size))
        return records, answer.get("NextShardIterator")


class DynamoDBStream:
    """A table's DynamoDB stream, by its stream ARN (the table's LatestStreamArn)."""

    service = "dynamodb"

    def __init__(self, client: Any, stream_arn: str) -> None:
        self._client = client
        self.arn = stream_arn
        self.identity = stream_arn.rsplit("/stream/", 1)[-1]  # the stream's label: a new one per stream

    def shards(self) -> list[dict[str, Any]]:
        shards, start = [], None
        while True:
            request: dict[str, Any] = {"StreamArn": self.arn}
            if start:
                request["ExclusiveStartShardId"] = start
            description = self._client.describe_stream(**request)["StreamDescription"]
            shards += description.get("Shards", [])
            start = description.get("LastEvaluatedShardId")
            if not start:
                return shards

    def iterator(self, shard_id: str, kind: str, sequence: str | None = None, at: float | None = None) -> str:
        request: dict[str, Any] = {"StreamArn": self.arn, "ShardId": shard_id, "ShardIteratorType": kind}
        if sequence is not None:
            request["SequenceNumber"] = sequence
        return self._client.get_shard_iterator(**request)["ShardIterator"]

    def records(self, shard_id: str, iterator: str, limit: int) -> tuple[list[ShardRecord], str | None]:
        answer = self._client.get_records(
            ShardIterator=iterator, Limit=min(limit, DYNAMODB_GET_RECORDS_LIMIT)
        )
        records = []
        for raw in answer.get("Records", []):
            change = dict(raw.get("dynamodb") or {})
            arrival = _epoch(change.get("ApproximateCreationDateTime"))
            change["ApproximateCreationDateTime"] = arrival  # epoch seconds in Lambda's event
            body = {k: v for k, v in raw.items() if k != "dynamodb"}
            body["dynamodb"] = change
            sequence = str(change["SequenceNumber"])
            records.append(ShardRecord(shard_id, sequence, arrival, body, int(change.get("SizeBytes") or 0)))
        return records, answer.get("NextShardIterator")


class ShardReader:
    """One shard as ordered_batches reads it; records are buffered between GetRecords calls."""

    def __init__(
        self,
        stream: StreamApi,
        shard_id: str,
        store: DurableStore,
        checkpoint_key: str,
        starting_position: str,
        starting_timestamp: float | None,
        now: float,
        *,
        poll_interval_s: float = 0.0,
        wall_clock: Callable[[], float] = time.time,
        timeline: Callable[[float], float] | None = None,
    ) -> None:
        """`now`: the backend's wall-clock time, which stamps the records' arrival (for LATEST).
        `poll_interval_s`: after GetRecords found nothing, the shard is not asked again for this long
        (Lambda's base rate, in real time; 0 in virtual time, where a poll costs nothing).
        `timeline` moves a record's arrival (the backend's wall clock) onto the mapping's clock as it
        is read, so its age and its tumbling window are measured in the run's (virtual) time."""
        self._timeline = timeline
        self.key = shard_id
        self._interval, self._wall_clock, self._quiet_until = poll_interval_s, wall_clock, 0.0
        self._stream, self._store, self._checkpoint_key = stream, store, checkpoint_key
        self._buffer: deque[ShardRecord] = deque()
        self._last_fetched: ShardRecord | None = None
        self._last_read: ShardRecord | None = None
        self._iterator: str | None = None
        self.closed = False  # GetRecords answered no NextShardIterator and everything was read
        saved = store.get(checkpoint_key)
        self._fresh = saved is None  # LATEST means the shard's tip only when the mapping first starts
        if saved is None:
            saved = self._starting(starting_position, starting_timestamp, now)
            store.put(checkpoint_key, saved)
        self._saved = saved
        self._skip_before: float | None = None
        if self._fresh and "latest_at" in saved:
            self._iterator = self._new_iterator()  # the tip now, not at the first poll

    @staticmethod
    def _starting(position: str, timestamp: float | None, now: float) -> dict[str, Any]:
        if position == "LATEST":
            return {"latest_at": now}
        if position == "AT_TIMESTAMP":
            return {"at_timestamp": timestamp or 0.0}
        return {"trim_horizon": True}

    # -- ordered_batches' partition reader --------------------------------------------------------

    def peek(self, limit: int) -> list[ShardRecord]:
        if len(self._buffer) < limit:
            self._fetch(limit - len(self._buffer))
        return list(self._buffer)[:limit]

    def advance(self, past: ShardRecord) -> None:
        while self._buffer:
            record = self._buffer.popleft()
            self._last_read = record
            if record is past:
                return

    def checkpoint(self, unsettled: list[ShardRecord]) -> None:
        if unsettled:
            first = min(unsettled, key=lambda r: r.order)
            mark: dict[str, Any] = {"at": first.sequence_number}
        elif self._last_read is not None:
            mark = {"after": self._last_read.sequence_number}
        else:
            return
        if mark != self._saved:
            self._store.put(self._checkpoint_key, mark)
            self._saved = mark

    # -- reading ----------------------------------------------------------------------------------

    def buffered(self) -> int:
        """Records read from the shard and not yet taken into a batch."""
        return len(self._buffer)

    def drained(self) -> bool:
        """Nothing buffered and GetRecords has nothing more now (reads once to know)."""
        return not self.peek(1)

    def _fetch(self, wanted: int) -> None:
        if self.closed or (self._interval and self._wall_clock() < self._quiet_until):
            return
        if self._iterator is None:
            self._iterator = self._new_iterator()
        try:
            records, following = self._stream.records(self.key, self._iterator, wanted)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code in _THROTTLED:  # the shard's read limit: nothing this round, as for an empty read
                self._quiet_until = self._wall_clock() + max(self._interval, 1.0)
                return
            if code != "ExpiredIteratorException":
                raise
            self._iterator = self._new_iterator()
            records, following = self._stream.records(self.key, self._iterator, wanted)
        if not records:
            self._quiet_until = self._wall_clock() + self._interval
        for record in records:
            self._last_fetched = record
            if self._skip_before is not None and record.arrival_s < self._skip_before:
                continue
            if self._timeline is not None:
                record = dataclasses.replace(record, arrival_s=self._timeline(record.arrival_s))
            self._buffer.append(record)
        self._iterator = following
        if following is None:
            self.closed = not self._buffer

    def _new_iterator(self) -> str:
        """From the last record fetched, else from the checkpoint."""
        if self._last_fetched is not None:
            return self._stream.iterator(
                self.key, "AFTER_SEQUENCE_NUMBER", self._last_fetched.sequence_number
            )
        saved = self._saved
        if "at" in saved:
            return self._stream.iterator(self.key, "AT_SEQUENCE_NUMBER", saved["at"])
        if "after" in saved:
            return self._stream.iterator(self.key, "AFTER_SEQUENCE_NUMBER", saved["after"])
        if "at_timestamp" in saved:
            return self._stream.iterator(self.key, "AT_TIMESTAMP", at=saved["at_timestamp"])
        if "latest_at" in saved:
            if self._fresh:
                return self._stream.iterator(self.key, "LATEST")
            if self._stream.service == "kinesis":
                return self._stream.iterator(self.key, "AT_TIMESTAMP", at=saved["latest_at"])
            self._skip_before = saved["latest_at"]
        return self._stream.iterator(self.key, "TRIM_HORIZON")


class ShardLanes:
    """ParallelizationFactor: "Lambda can process up to 10 batches in each shard simultaneously ...
    Lambda still processes each record with the same partition key in order" (with-kinesis.html).
    One shard's records are dealt to `count` lanes by a stable hash of their key, each lane read by
    ordered_batches as a partition of its own; the shard's checkpoint stays at the lowest record any
    lane has not settled."""

    def __init__(self, shard: ShardReader, count: int, key_of: Callable[[ShardRecord], str]) -> None:
        self.shard, self._key_of = shard, key_of
        self.lanes = [Lane(self) for _ in range(count)]

    def deal(self, lane: Lane, wanted: int) -> None:
        """Read from the shard until `lane` holds `wanted` records or the shard has no more now."""
        while len(lane.buffer) < wanted:
            records = self.shard.peek(wanted)
            if not records:
                return
            for record in records:
                self.lanes[zlib.crc32(self._key_of(record).encode()) % len(self.lanes)].buffer.append(record)
            self.shard.advance(records[-1])

    def checkpoint(self) -> None:
        unsettled = [r for lane in self.lanes for r in lane.unsettled]
        self.shard.checkpoint(unsettled + [lane.buffer[0] for lane in self.lanes if lane.buffer])

    def buffered(self) -> int:
        return sum(len(lane.buffer) for lane in self.lanes) + self.shard.buffered()

    def drained(self) -> bool:
        return not any(lane.buffer for lane in self.lanes) and self.shard.drained()


class Lane:
    """One lane of a shard, as ordered_batches reads a partition."""

    def __init__(self, lanes: ShardLanes) -> None:
        self.key = lanes.shard.key
        self.buffer: deque[ShardRecord] = deque()
        self.unsettled: list[ShardRecord] = []
        self.lanes = lanes

    def peek(self, limit: int) -> list[ShardRecord]:
        self.lanes.deal(self, limit)
        return list(self.buffer)[:limit]

    def advance(self, past: ShardRecord) -> None:
        while self.buffer and self.buffer.popleft() is not past:
            pass

    def checkpoint(self, unsettled: list[ShardRecord]) -> None:
        self.unsettled = list(unsettled)
        self.lanes.checkpoint()
