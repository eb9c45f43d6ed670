"""Kinesis and DynamoDB Streams event source mappings: stream shards turned into Lambda invocations.

Emulates an AWS::Lambda::EventSourceMapping on a Kinesis data stream or a DynamoDB stream (`Type:
Kinesis` and `Type: DynamoDB` in SAM) as AWS documents it in "Using AWS Lambda with Amazon Kinesis"
(https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html), "Using AWS Lambda with Amazon
DynamoDB" (https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html), "Configuring partial batch
response with Kinesis Data Streams and Lambda" (services-kinesis-batchfailurereporting.html), the
DynamoDB page of the same (services-ddb-batchfailurereporting.html), "Retaining discarded batch
records for a Kinesis Data Streams event source in Lambda" (kinesis-on-failure-destination.html),
"Using event filtering with a Kinesis event source" (with-kinesis-filtering.html), "Using event
filtering with a DynamoDB event source" (with-ddb-filtering.html) and "Implementing stateful Kinesis
Data Streams processing in Lambda" (services-kinesis-windows.html).

The batch rules (order per shard, BatchSize and MaximumBatchingWindowInSeconds (0 by default for
streams), FilterCriteria, MaximumRetryAttempts (-1: until the record expires), BisectBatchOnFunctionError,
MaximumRecordAgeInSeconds, the on-failure destination, TumblingWindowInSeconds) are ordered_batches',
shared with the Kafka mapping; the shards are read through GetShardIterator/GetRecords
(stream_shards.py), checkpointed in the DurableStore; the properties are validated in
stream_config.py. What is the streams' own is here:

- the event: `Records[]` of `kinesis` {kinesisSchemaVersion, partitionKey, sequenceNumber, data
  (base64), approximateArrivalTimestamp} with eventSource aws:kinesis, eventID "<shardId>:<seq>",
  eventName aws:kinesis:record, invokeIdentityArn, awsRegion, eventSourceARN; or DynamoDB's records
  as the stream holds them {eventID, eventName INSERT/MODIFY/REMOVE, eventVersion, eventSource
  aws:dynamodb, awsRegion, dynamodb {ApproximateCreationDateTime, Keys, NewImage, OldImage,
  SequenceNumber, SizeBytes, StreamViewType}, eventSourceARN};
- filters: Kinesis filters on `data` (decoded; "As long as the data the producer puts into the
  stream is valid JSON"), DynamoDB on the record (`dynamodb`, `eventName`...);
- partial batch response: `{"batchItemFailures": [{"itemIdentifier": "<SequenceNumber>"}]}`; "Lambda
  uses the record with the lowest sequence number as the checkpoint. Lambda then retries all records
  starting from that checkpoint"; an empty or null itemIdentifier, a bad key name (and here a
  sequence number not in the batch) is a complete failure, an empty or null list a complete success;
- the invocation record of a discarded batch: requestContext, responseContext, version, timestamp
  and `KinesisBatchInfo` / `DDBStreamBatchInfo` {shardId, startSequenceNumber, endSequenceNumber,
  approximateArrivalOfFirstRecord, approximateArrivalOfLastRecord, batchSize, streamArn}; an S3
  destination also gets the event as `payload`. SQS, SNS and S3 destinations; not kafka://.

Time: a record's arrival is stamped by the backend's clock; as it is read it is placed on the
mapping's clock (virtual under `localfaas run`), so MaximumRecordAgeInSeconds and tumbling windows
count the run's time (a retry chain that waits out virtual minutes ages the record by them), while
the event and the invocation record keep the backend's own stamps.

The DynamoDB mapping's EventSourceArn names the table's stream; the table's current stream
(DescribeTable's LatestStreamArn) is read, as the template's label cannot know the backend's.

ParallelizationFactor (1-10): a shard's records are dealt to that many lanes by partition key (by
the item's Keys on DynamoDB), one batch in flight per lane, so each key stays in order while a
failing key holds back only its own lane; the shard's checkpoint stays at the lowest unsettled record.

Not emulated: enhanced fan-out consumers (read like the stream), record expiry by the
stream's retention period (infinite retries block a shard until stopped), aggregated KPL records,
the window's 1 MB state limit, MetricsConfig.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from localfaas.destinations import Destinations, iso_timestamp, parse_destination, s3_object_key
from localfaas.durable import DurableStore
from localfaas.event_sources import StackServices, register
from localfaas.ordered_batches import Batch, Invoke, OrderedBatches, PartitionState, PollReport
from localfaas.pattern import matches_filter_criteria
from localfaas.report import source_summary
from localfaas.stream_config import StreamMappingConfig, stream_service
from localfaas.stream_shards import (
    DynamoDBStream,
    KinesisStream,
    Lane,
    ShardLanes,
    ShardReader,
    ShardRecord,
    StreamApi,
)

__all__ = ["StreamEventSourceMapping", "StreamMappingConfig", "stream_service"]

logger = logging.getLogger(__name__)

_BATCH_INFO = {"kinesis": "KinesisBatchInfo", "dynamodb": "DDBStreamBatchInfo"}


class StreamEventSourceMapping(OrderedBatches):
    """Polls every shard of one stream for one mapping (an event_sources.EventSource)."""

    def __init__(
        self,
        config: StreamMappingConfig,
        stream: StreamApi,
        invoke: Invoke,
        destinations: Destinations | None,
        store: DurableStore,
        *,
        clock: Callable[[], float] = time.time,
        wall_clock: Callable[[], float] = time.time,
        stream_arn: str | None = None,
        region: str = "us-east-1",
        role_arn: str = "",
        real_time: bool = False,
    ) -> None:
        super().__init__(config, invoke, destinations, clock)
        self.config = config
        self.logical_id, self.function_name = config.logical_id, config.function_name
        self._stream, self._store, self._wall_clock = stream, store, wall_clock
        self._arn = stream_arn or config.event_source_arn  # the backend's ARN, as events name it
        self._region, self._role_arn = region, role_arn
        # "Lambda polls each shard in your Kinesis stream for records at a base rate of once per
        # second" (with-kinesis.html); DynamoDB "at a base rate of 4 times per second" (with-ddb.html).
        self._poll_interval_s = (1.0 if config.service == "kinesis" else 0.25) if real_time else 0.0
        self._shards_listed_at = -math.inf
        self._ending: dict[str, str | None] = {}  # EndingSequenceNumber: the shard is closed
        self._shards: dict[str, list[PartitionState]] = {}  # by shard id: the shard, or its lanes
        self._parents: dict[str, tuple[str, ...]] = {}
        if config.enabled:
            self._active()  # LATEST is the tip when the mapping starts

    # -- the EventSource contract ---------------------------------------------------------------

    def poll_once(self, *, flush: bool = False) -> PollReport:
        report = PollReport()
        if self.config.enabled:
            for state in self._active():
                self._poll_partition(state, report, flush)
        self.stats.add(report)
        return report

    def caught_up(self) -> bool:
        if not self.config.enabled:
            return True
        return all(self._settled(state) for state in self._active())

    def idle_rounds(self) -> int:
        return (self.config.retry_limit or 0) + math.ceil(math.log2(self.config.batch_size)) + 2

    def summary(self, function: str, lost: list[str], *, stopped: bool) -> dict[str, Any]:
        in_flight = sum(len(b.records) for lanes in self._shards.values() for s in lanes for b in s.queue)
        in_flight += sum(self._buffered(shard_id) for shard_id in self._shards)  # read, not yet batched
        records = self.stats.records_settled + in_flight
        name = self._arn.split("/")[1] if "/" in self._arn else self._arn
        return source_summary(
            self.logical_id, function, name, self.stats, records, lost, stopped=stopped, unsettled=in_flight
        )

    def close(self) -> None:
        """Nothing to release: the checkpoints are already in the store."""

    # -- shards -----------------------------------------------------------------------------------

    def _active(self) -> list[PartitionState]:
        """The shards to read now: every shard whose parents were read to their end."""
        if self._wall_clock() - self._shards_listed_at >= self._poll_interval_s:
            self._list_shards()
        return [
            state
            for shard_id, lanes in self._shards.items()
            if not any(p in self._shards and not self._finished(p) for p in self._parents[shard_id])
            for state in lanes
        ]

    def _list_shards(self) -> None:
        first = self._shards_listed_at == -math.inf
        self._shards_listed_at = self._wall_clock()
        for shard in self._stream.shards():
            shard_id = shard["ShardId"]
            self._ending[shard_id] = (shard.get("SequenceNumberRange") or {}).get("EndingSequenceNumber")
            if shard_id not in self._shards:
                parents = tuple(p for k in ("ParentShardId", "AdjacentParentShardId") if (p := shard.get(k)))
                self._parents[shard_id] = parents
                # A shard that appears later (a split or merge, a DynamoDB shard rolling over) is read
                # from its start: its records came after the mapping's starting position.
                self._shards[shard_id] = self._lanes(self._reader(shard_id, from_start=not first))

    def _reader(self, shard_id: str, *, from_start: bool) -> ShardReader:
        c = self.config
        key = f"stream-checkpoint:{c.uuid}:{self._stream.identity}:{shard_id}"
        return ShardReader(
            self._stream,
            shard_id,
            self._store,
            key,
            "TRIM_HORIZON" if from_start else c.starting_position,
            c.starting_position_timestamp,
            self._wall_clock(),
            poll_interval_s=self._poll_interval_s,
            wall_clock=self._wall_clock,
            timeline=lambda arrival: arrival + self._clock() - self._wall_clock(),
        )

    def _lanes(self, reader: ShardReader) -> list[PartitionState]:
        """One partition per shard, or ParallelizationFactor lanes of it keyed by partition key."""
        if self.config.parallelization_factor == 1:
            return [PartitionState(reader)]
        lanes = ShardLanes(reader, self.config.parallelization_factor, self._record_key)
        return [PartitionState(lane) for lane in lanes.lanes]

    def _record_key(self, record: ShardRecord) -> str:
        if self.config.service == "kinesis":
            return str(record.body.get("partitionKey", ""))
        return json.dumps(record.body.get("dynamodb", {}).get("Keys"), sort_keys=True)

    def _finished(self, shard_id: str) -> bool:
        """Read to its end and settled: GetRecords gave no next iterator, or the shard is listed
        closed (an EndingSequenceNumber) and has nothing more to read."""
        if not self._idle(shard_id):
            return False
        reader = self._shard_reader(shard_id)
        return reader.closed or (self._ending.get(shard_id) is not None and self._drained(shard_id))

    def _settled(self, state: PartitionState) -> bool:
        return self._idle(state.key) and self._drained(state.key)

    def _idle(self, shard_id: str) -> bool:
        return all(not s.queue and s.window is None for s in self._shards[shard_id])

    def _shard_reader(self, shard_id: str) -> ShardReader:
        reader = self._shards[shard_id][0].reader
        return reader._lanes.shard if isinstance(reader, Lane) else reader

    def _buffered(self, shard_id: str) -> int:
        reader = self._shards[shard_id][0].reader
        return reader.lanes.buffered() if isinstance(reader, Lane) else reader.buffered()

    def _drained(self, shard_id: str) -> bool:
        reader = self._shards[shard_id][0].reader
        return reader._lanes.drained() if isinstance(reader, Lane) else reader.drained()

    # -- the streams' hooks of the batch rules ----------------------------------------------------

    def _timestamp_s(self, record: ShardRecord) -> float:
        return record.arrival_s  # on the mapping's clock (ShardReader's timeline)

    def _event_source_arn(self) -> str | None:
        return self._arn

    def _arrival(self, record: ShardRecord) -> float:
        """When the backend says the record arrived (not moved onto the mapping's clock)."""
        if self.config.service == "kinesis":
            return float(record.body.get("approximateArrivalTimestamp") or record.arrival_s)
        return float(record.body.get("dynamodb", {}).get("ApproximateCreationDateTime") or record.arrival_s)

    def _batch_event(self, state: PartitionState, records: list[ShardRecord]) -> dict[str, Any]:
        return {"Records": [self._record_event(r) for r in records]}

    def _record_event(self, record: ShardRecord) -> dict[str, Any]:
        if self.config.service == "kinesis":
            return {
                "kinesis": record.body,
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{record.shard_id}:{record.sequence_number}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": self._role_arn,
                "awsRegion": self._region,
                "eventSourceARN": self._arn,
            }
        return {**record.body, "eventSourceARN": self._arn}

    def _matches(self, record: ShardRecord) -> bool:
        if not self.config.filters:
            return True
        view = record.body if self.config.service == "kinesis" else self._record_event(record)
        try:
            return matches_filter_criteria(list(self.config.filters), view)
        except Exception:  # a record the filter cannot evaluate matches no pattern (see esm.py)
            logger.exception(
                "%s: cannot filter %s@%s; filtered out",
                self.logical_id,
                record.shard_id,
                record.sequence_number,
            )
            return False

    def _record_size(self, record: ShardRecord) -> int:
        return len(json.dumps(self._record_event(record)).encode()) + 1  # and a comma

    def _envelope_size(self) -> int:
        window = 512 if self.config.tumbling_window_s else 0  # window, state, shardId and the flags
        return len(json.dumps({"Records": []}).encode()) + window

    def _reported(self, state: PartitionState, batch: Batch, failures: list) -> list[ShardRecord] | None:
        """Every record from the lowest reported sequence number on (the checkpoint rule)."""
        in_batch = {r.sequence_number for r in batch.records}
        reported = []
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if not isinstance(identifier, str) or identifier not in in_batch:
                return None
            reported.append(int(identifier))
        if not reported:
            return []
        lowest = min(reported)
        return [r for r in batch.records if r.order >= lowest]

    def _send(self, state: PartitionState, batch: Batch, destination: str, report: PollReport) -> None:
        assert self._destinations is not None
        is_s3 = parse_destination(destination).kind == "s3"
        first, last = batch.records[0], batch.records[-1]
        document = {
            **self._failure(batch).context(),
            _BATCH_INFO[self.config.service]: {
                "shardId": state.key,
                "startSequenceNumber": first.sequence_number,
                "endSequenceNumber": last.sequence_number,
                "approximateArrivalOfFirstRecord": iso_timestamp(self._arrival(first) * 1000),
                "approximateArrivalOfLastRecord": iso_timestamp(self._arrival(last) * 1000),
                "batchSize": len(batch.records),
                "streamArn": self._arn,
            },
        }
        if is_s3:
            document["payload"] = json.dumps(self._batch_event(state, batch.records))
        key = s3_object_key(self.config.uuid, state.key, self._clock()) if is_s3 else None
        self._destinations.send(destination, document, object_key=key)
        report.records_to_destination += len(batch.records)


# -- the stack's factory ------------------------------------------------------------------------


@register("AWS::Lambda::EventSourceMapping")
def stream_mapping(resource: Any, services: StackServices) -> StreamEventSourceMapping | None:
    """A Kinesis or DynamoDB Streams mapping of the template; None for any other kind of mapping."""
    props = resource.properties
    arn = str(props.get("EventSourceArn", ""))
    service = stream_service(arn)
    if service is None:
        return None
    function = services.template.function(str(props.get("FunctionName", "")))
    config = StreamMappingConfig.from_resource(
        resource.logical_id, props, function_name=function.function_name, function_arn=function.arn
    )
    try:
        stream, stream_arn = _stream(services, service, arn)
    except (ClientError, LookupError) as error:
        services.warn(f"{resource.logical_id}: cannot read the stream {arn}: {error}; skipped")
        return None
    role = services.template.resources.get(function.logical_id, {}).get("Properties", {}).get("Role")
    return StreamEventSourceMapping(
        config,
        stream,
        services.invoke,
        services.destinations,
        services.store,
        clock=services.scheduler.now,
        stream_arn=stream_arn,
        region=services.region,
        real_time=services.real_time,
        role_arn=role
        if isinstance(role, str)
        else f"arn:aws:iam::{services.account_id}:role/{function.function_name}",
    )


def _stream(services: StackServices, service: str, arn: str) -> tuple[StreamApi, str]:
    if service == "kinesis":
        stream = KinesisStream(services.client("kinesis"), arn)
        stream.shards()  # ResourceNotFoundException now rather than at the first poll
        return stream, arn
    table = arn.split(":table/", 1)[-1].split("/stream/", 1)[0]
    described = services.client("dynamodb").describe_table(TableName=table)["Table"]
    latest = described.get("LatestStreamArn")
    if not latest or not (described.get("StreamSpecification") or {}).get("StreamEnabled", True):
        raise LookupError(f"table {table} has no stream (StreamSpecification)")
    return DynamoDBStream(services.client("dynamodbstreams"), latest), latest
