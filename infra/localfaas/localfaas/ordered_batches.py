"""Ordered batches: the rules Lambda applies alike to a Kafka partition and to a stream shard.

Lambda's pollers for Amazon MSK / self-managed Kafka, Kinesis Data Streams and DynamoDB Streams share
one batch lifecycle ("How Lambda processes records from stream and queue-based event sources",
https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventsourcemapping.html; "Configuring error
handling controls for Kafka event sources", https://docs.aws.amazon.com/lambda/latest/dg/kafka-retry-configurations.html;
"Error handling" and "Configuring partial batch response with Kinesis Data Streams and Lambda",
https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html; "Implementing
stateful Kinesis Data Streams processing in Lambda", https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-windows.html):

- one partition (or shard) is read strictly in order, one batch in flight at a time; partitions are
  independent of each other;
- a batch holds up to BatchSize records and 6 MB of event, gathered for up to
  MaximumBatchingWindowInSeconds; records FilterCriteria rejects are never invoked and are settled
  with the rest;
- the checkpoint (Kafka's committed offset, a shard's sequence number) only moves past records that
  succeeded, were filtered out, or were handed to the on-failure destination (at least once);
- a failed batch is retried MaximumRetryAttempts times, BisectBatchOnFunctionError halves it ("Splitting
  a batch does not count towards the retry quota"), records older than MaximumRecordAgeInSeconds are
  never sent to the function, and what is given up on goes to the on-failure destination (or is
  discarded) and the partition moves on;
- ReportBatchItemFailures: a valid partial batch response settles the records it does not report;
  which records are retried is the source's rule (Kafka: the reported ones; streams: every record
  from the lowest reported sequence number, the checkpoint); an invalid one fails the whole batch;
- TumblingWindowInSeconds (streams only): records are grouped in windows of their arrival time
  aligned on the epoch, a batch never spans two windows, each invocation gets the `state` the previous
  one returned (a response without `state` is a failed invocation), and once the window's records are
  settled and the window is over (a record of a later window was read, or the stream has no more
  records and the window's end has passed; `flush`, in virtual time, does not wait for the end),
  Lambda invokes once more with no records and `isFinalInvokeForWindow: true`, retried until it
  succeeds ("If the invocation fails, your Lambda function suspends further processing until a
  successful invocation").

A source brings a `PartitionReader` per partition (the log for Kafka, GetRecords for a shard) and
the hooks that are its own: its event, its record identifiers, its filter view and its invocation
record for the destination. esm.py (Kafka) and stream_source.py (Kinesis, DynamoDB) subclass
`OrderedBatches`. Not emulated: retry back-off (a failed batch is retried on the next poll), a
window's 1 MB state limit (isWindowTerminatedEarly is always false); a window's state is kept in
memory, so a restart of localfaas opens the window again with a fresh state.

Longer than 400 lines because the lifecycle is one piece: fetching, expiring, invoking, retrying,
bisecting, giving up and windows hand the same batch to each other, and splitting them would spread
one rule (the checkpoint never passes an unsettled record) over several modules.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from localfaas.destinations import (
    PAYLOAD_SIZE_EXCEEDED,
    RECORD_AGE_EXCEEDED,
    RETRIES_EXHAUSTED,
    DestinationError,
    Destinations,
    Failure,
)
from localfaas.runtime import InvocationResult

__all__ = ["MAX_PAYLOAD_BYTES", "Batch", "OrderedBatches", "PartitionReader", "PartitionState", "PollReport"]

logger = logging.getLogger(__name__)

# Lambda's synchronous invocation payload limit, which caps a batch ("Kafka event source mapping
# batching behavior": Lambda invokes when "the batch size reaches the 6 MB payload limit").
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024

Invoke = Callable[[str, dict], InvocationResult]


@dataclass
class PollReport:
    """What one poll (or a run) did. Every consumed record is settled exactly once, as delivered,
    filtered, sent to the destination or discarded; `expired` and `oversized` count the ones that
    went to the destination (or were discarded) for being too old or too big."""

    invocations: int = 0
    records_delivered: int = 0
    records_filtered: int = 0
    retries: int = 0
    batches_bisected: int = 0
    records_to_destination: int = 0
    records_discarded: int = 0
    records_expired: int = 0
    records_oversized: int = 0
    destination_errors: int = 0
    partitions_waiting: int = 0  # partitions holding a partial batch inside its batching window

    @property
    def records_settled(self) -> int:
        return (
            self.records_delivered
            + self.records_filtered
            + self.records_to_destination
            + self.records_discarded
        )

    def add(self, other: PollReport) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


class PartitionReader(Protocol):
    """One partition or shard as the batch rules see it: records in order after a read position,
    and a checkpoint that only the settled records may pass."""

    key: str  # "<topic>-<partition>" or the shard id

    def peek(self, limit: int) -> list[Any]:
        """Up to `limit` records from the read position, without moving it."""
        ...

    def advance(self, past: Any) -> None:
        """Move the read position past `past`, a record `peek` returned."""
        ...

    def checkpoint(self, unsettled: list[Any]) -> None:
        """Every record read so far is settled except from the lowest of `unsettled` (the first record
        of each batch in flight) on; an empty list checkpoints all that was read."""
        ...


@dataclass
class Batch:
    """Records of one partition on their way through invocations, in order."""

    records: list[Any]
    retries: int = 0  # counted against MaximumRetryAttempts
    invocations: int = 0  # every invocation these records were part of
    last_result: InvocationResult | None = None
    condition: str | None = None  # set when given up on: why they go to the destination


@dataclass
class Window:
    """An open tumbling window of one shard: its bounds and the state the function last returned."""

    start: float
    end: float
    state: dict = field(default_factory=dict)
    invocations: int = 0


@dataclass
class PartitionState:
    reader: PartitionReader
    queue: deque[Batch] = field(default_factory=deque)
    gathering_since: float | None = None
    window: Window | None = None

    @property
    def key(self) -> str:
        return self.reader.key


class OrderedBatches:
    """The batch rules over partitions. `rules` carries the mapping's settings by their config names
    (batch_size, batching_window_s, filters, maximum_record_age_s, retry_limit,
    bisect_batch_on_function_error, report_batch_item_failures, on_failure_destination, logical_id,
    function_name, function_arn, and tumbling_window_s where the source has windows)."""

    def __init__(
        self,
        rules: Any,
        invoke: Invoke,
        destinations: Destinations | None,
        clock: Callable[[], float],
    ) -> None:
        self.rules = rules
        self.stats = PollReport()
        self._invoke = invoke
        self._destinations = destinations
        self._clock = clock
        self._window_s = float(getattr(rules, "tumbling_window_s", 0) or 0)

    # -- hooks of the source ----------------------------------------------------------------------

    def _batch_event(self, state: PartitionState, records: list[Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _matches(self, record: Any) -> bool:
        raise NotImplementedError

    def _record_size(self, record: Any) -> int:
        raise NotImplementedError

    def _envelope_size(self) -> int:
        raise NotImplementedError

    def _timestamp_s(self, record: Any) -> float:
        raise NotImplementedError

    def _reported(self, state: PartitionState, batch: Batch, failures: list) -> list[Any] | None:
        """The records to retry after a partial batch response listing `failures`, or None when the
        response counts as a complete failure."""
        raise NotImplementedError

    def _send(self, state: PartitionState, batch: Batch, destination: str, report: PollReport) -> None:
        """Deliver the invocation record(s) of `batch` and count records_to_destination."""
        raise NotImplementedError

    # -- one round of one partition ---------------------------------------------------------------

    def _poll_partition(self, state: PartitionState, report: PollReport, flush: bool) -> None:
        if not state.queue:
            if self._window_over(state, flush):
                self._close_window(state, report)
                return
            self._fetch(state, report, flush)
        invoked = False
        while state.queue:
            batch = state.queue[0]
            if batch.condition is not None:
                if not self._give_up(state, batch, report):
                    return  # destination unreachable: keep the records, try again next round
                state.queue.popleft()
                self._commit(state)
                continue
            if invoked:
                return
            if self._expire(state, batch, report):
                continue
            self._invoke_batch(state, batch, report)
            invoked = True

    def _commit(self, state: PartitionState) -> None:
        """Checkpoint up to the first record still in flight (or everything read so far)."""
        state.reader.checkpoint([b.records[0] for b in state.queue])

    def _fetch(self, state: PartitionState, report: PollReport, flush: bool) -> None:
        """Read the next batch: up to BatchSize records and 6 MB, filtered, once full or the window is over."""
        records = state.reader.peek(self.rules.batch_size)
        if not records:
            state.gathering_since = None
            return
        selected, filtered, last, size, capped = [], 0, None, self._envelope_size(), False
        window = self._window_of(records[0]) if self._window_s else None
        for record in records:
            if window is not None and self._window_of(record) != window:
                capped = True  # a batch never spans two tumbling windows
                break
            if not self._matches(record):
                filtered += 1
                last = record
                continue
            record_size = self._record_size(record)
            if selected and size + record_size > MAX_PAYLOAD_BYTES:
                capped = True
                break
            selected.append(record)
            size += record_size
            last = record
        full = capped or len(records) >= self.rules.batch_size
        if selected and not full and not flush and self._gathering(state):
            report.partitions_waiting += 1
            return
        state.gathering_since = None
        if last is not None:
            state.reader.advance(last)
        report.records_filtered += filtered
        if window is not None and state.window is None and selected:
            state.window = Window(window, window + self._window_s)
        if selected:
            batch = Batch(selected)
            if size > MAX_PAYLOAD_BYTES:  # a single record too big to invoke with
                batch.condition = PAYLOAD_SIZE_EXCEEDED
                report.records_oversized += 1
            state.queue.append(batch)
        else:
            self._commit(state)

    def _gathering(self, state: PartitionState) -> bool:
        """True while a partial batch is still inside MaximumBatchingWindowInSeconds."""
        now = self._clock()
        if state.gathering_since is None:
            state.gathering_since = now
        return now - state.gathering_since < self.rules.batching_window_s

    def _expire(self, state: PartitionState, batch: Batch, report: PollReport) -> bool:
        """Split off records older than MaximumRecordAgeInSeconds: never sent to the function."""
        max_age = self.rules.maximum_record_age_s
        if max_age == -1:
            return False
        now = self._clock()
        old = [r for r in batch.records if now - self._timestamp_s(r) > max_age]
        if not old:
            return False
        report.records_expired += len(old)
        expired = Batch(old, batch.retries, batch.invocations, batch.last_result, RECORD_AGE_EXCEEDED)
        batch.records = [r for r in batch.records if now - self._timestamp_s(r) <= max_age]
        if not batch.records:
            state.queue.popleft()
        state.queue.appendleft(expired)
        return True

    def _invoke_batch(self, state: PartitionState, batch: Batch, report: PollReport) -> None:
        if batch.invocations:
            report.retries += 1
        batch.invocations += 1
        report.invocations += 1
        try:
            event = self._windowed(state, self._batch_event(state, batch.records), final=False)
        except Exception as exc:  # a localfaas bug on this batch's records: fail the batch, not the poller
            logger.exception("%s: cannot build the event for %s", self.rules.logical_id, state.key)
            result = _event_build_failure(self.rules.function_name, exc)
        else:
            result = self._invoke(self.rules.function_name, event)
        batch.last_result = result
        failing = self._failing(state, batch, result)
        if failing is None:
            self._retry_whole(state, batch, report)
        elif failing:
            self._keep_state(state, result)
            self._retry_reported(state, batch, failing, report)
        else:
            self._keep_state(state, result)
            state.queue.popleft()
            report.records_delivered += len(batch.records)
            self._commit(state)

    def _failing(self, state: PartitionState, batch: Batch, result: InvocationResult) -> list[Any] | None:
        """The records a valid partial batch response leaves to retry (empty: the whole batch
        succeeded), or None when the whole batch failed: a function error, a windowed response
        without `state`, or a response the source counts as a complete failure."""
        if not result.ok:
            return None
        if state.window is not None and not isinstance(_response(result.payload).get("state"), dict):
            return None  # "If the response does not contain a state property, Lambda considers this a failed invocation"
        if not self.rules.report_batch_item_failures:
            return []
        return self._reported(state, batch, _batch_item_failures(result.payload))

    def _retry_whole(self, state: PartitionState, batch: Batch, report: PollReport) -> None:
        """A batch that failed as a whole is retried as a whole, or split when BisectBatchOnFunctionError."""
        if self.rules.bisect_batch_on_function_error and len(batch.records) > 1:
            self._bisect(state, batch, report)
        else:
            self._count_retry(batch)

    def _retry_reported(
        self, state: PartitionState, batch: Batch, failing: list[Any], report: PollReport
    ) -> None:
        """The records not left to retry are done; the batch shrinks to the others, retried before
        anything later in the partition. The checkpoint moves up to the lowest of them, never past it."""
        retried = {id(r) for r in failing}
        report.records_delivered += sum(1 for r in batch.records if id(r) not in retried)
        batch.records = [r for r in batch.records if id(r) in retried]
        self._commit(state)
        self._count_retry(batch)

    def _bisect(self, state: PartitionState, batch: Batch, report: PollReport) -> None:
        """Split batch on error: two halves, each retried separately, not counted as a retry."""
        middle = len(batch.records) // 2
        halves = [
            Batch(records, batch.retries, batch.invocations, batch.last_result)
            for records in (batch.records[:middle], batch.records[middle:])
        ]
        state.queue.popleft()
        state.queue.extendleft(reversed(halves))
        report.batches_bisected += 1

    def _count_retry(self, batch: Batch) -> None:
        batch.retries += 1
        limit = self.rules.retry_limit
        if limit is not None and batch.retries > limit:
            batch.condition = RETRIES_EXHAUSTED

    # -- giving up on records ---------------------------------------------------------------------

    def _give_up(self, state: PartitionState, batch: Batch, report: PollReport) -> bool:
        """Send the batch to the on-failure destination (or discard it without one); False if that failed."""
        destination = self.rules.on_failure_destination
        if destination is None:
            name, count = self.rules.logical_id, len(batch.records)
            logger.warning("%s: discarding %d record(s) of %s (%s)", name, count, state.key, batch.condition)
            report.records_discarded += len(batch.records)
            return True
        if self._destinations is None:
            raise RuntimeError(f"{self.rules.logical_id} has an on-failure destination but no Destinations")
        try:
            self._send(state, batch, destination, report)
        except DestinationError as exc:
            logger.warning("%s: %s", self.rules.logical_id, exc)
            report.destination_errors += 1
            return False
        return True

    def _failure(self, batch: Batch) -> Failure:
        # Never stamped before the records it describes: a virtual clock may stand at a slice's start
        # (LocalStack.run_scenario) while later records of the slice have already failed.
        newest = max((self._timestamp_s(r) for r in batch.records), default=0.0)
        return Failure(
            condition=batch.condition or RETRIES_EXHAUSTED,
            function_arn=self.rules.function_arn,
            approximate_invoke_count=batch.invocations,
            result=batch.last_result,
            at=max(self._clock(), newest),
        )

    # -- tumbling windows -------------------------------------------------------------------------

    def _window_of(self, record: Any) -> float:
        """The start of the window a record belongs to: windows are aligned on the epoch."""
        arrival = self._timestamp_s(record)
        return arrival - arrival % self._window_s

    def _windowed(self, state: PartitionState, event: dict[str, Any], *, final: bool) -> dict[str, Any]:
        window = state.window
        if window is None:
            return event
        window.invocations += 1
        return {
            **event,
            "window": {"start": _iso_second(window.start), "end": _iso_second(window.end)},
            "state": window.state,
            "shardId": state.key,
            "eventSourceARN": self._event_source_arn(),
            "isFinalInvokeForWindow": final,
            "isWindowTerminatedEarly": False,
        }

    def _event_source_arn(self) -> str | None:
        return getattr(self.rules, "event_source_arn", None)

    def _keep_state(self, state: PartitionState, result: InvocationResult) -> None:
        if state.window is not None:
            state.window.state = _response(result.payload).get("state") or {}

    def _window_over(self, state: PartitionState, flush: bool) -> bool:
        """The open window's records are settled and no more of them can come."""
        window = state.window
        if window is None:
            return False
        following = state.reader.peek(1)
        if following:
            return self._window_of(following[0]) >= window.end
        return flush or self._clock() >= window.end

    def _close_window(self, state: PartitionState, report: PollReport) -> None:
        """The final invocation of a window, with no records and its state; retried until it succeeds."""
        assert state.window is not None
        report.invocations += 1
        event = self._windowed(state, self._batch_event(state, []), final=True)
        result = self._invoke(self.rules.function_name, event)
        if result.ok:
            state.window = None
        else:
            report.retries += 1


def _response(payload: Any) -> dict:
    """A function's response as a dict (it may be JSON text); {} for anything else."""
    if isinstance(payload, bytes | str):
        try:
            payload = json.loads(payload)
        except ValueError:
            return {}
    return payload if isinstance(payload, dict) else {}


def _batch_item_failures(payload: Any) -> list:
    """The batchItemFailures list of a function's response (a dict, or its JSON text)."""
    failures = _response(payload).get("batchItemFailures")
    return failures if isinstance(failures, list) else []


def _iso_second(epoch_s: float) -> str:
    return dt.datetime.fromtimestamp(epoch_s, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _event_build_failure(function_name: str, exc: Exception) -> InvocationResult:
    """A Lambda-shaped function error for a batch whose event could not be built: the batch takes the
    failed-batch path (retries, bisection, on-failure destination) without reaching the function."""
    request_id = str(uuid.uuid4())
    error = {
        "errorMessage": f"localfaas could not build the event: {type(exc).__name__}: {exc}",
        "errorType": "Lambda.EventBuildError",
        "requestId": request_id,
        "stackTrace": [],
    }
    return InvocationResult(function_name, request_id, error=error)
