"""SQS event source mappings: Lambda polling a queue and invoking a function with batches of messages.

Emulates an AWS::Lambda::EventSourceMapping on an Amazon SQS queue (SAM's `Type: SQS`) as AWS documents
it in "Using Lambda with Amazon SQS" (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html),
"Lambda parameters for Amazon SQS event source mappings" (services-sqs-parameters.html), "Configuring
scaling behavior for SQS event source mappings" (services-sqs-scaling.html), "Handling errors for an
SQS event source in Lambda" (services-sqs-errorhandling.html) and "Using event filtering with an Amazon
SQS event source" (with-sqs-filtering.html), reading the queue only through SQS's API (ReceiveMessage,
DeleteMessageBatch, ChangeMessageVisibility, GetQueueAttributes), so it runs alike on moto and LocalStack:

- batches of up to BatchSize messages (default 10; up to 10,000 on a standard queue, 10 on a FIFO
  queue; over 10 only with a MaximumBatchingWindowInSeconds of at least 1) and 6 MB of event, gathered
  for up to MaximumBatchingWindowInSeconds (default 0; "not supported for FIFO queues");
- FilterCriteria on `body` (pattern.py, with the Kafka mappings' validation): "Amazon SQS event
  source mappings only support filtering on the body key", a JSON body matched as JSON and any other
  as a plain string; a message that matches no filter is deleted without invoking (`filtered`). A
  pattern on another key of the record (`attributes`, `messageAttributes`) is matched against that
  key as the event carries it: AWS documents no other outcome for it;
- a batch that succeeds is deleted; a function error leaves the whole batch in the queue, where it
  "will again reappear in the queue" once the queue's VisibilityTimeout runs out, received again with
  ApproximateReceiveCount one higher. SQS has no MaximumRetryAttempts: retries and failure come from
  the queue. With a RedrivePolicy, SQS moves a message whose receive count reached maxReceiveCount to
  its dead-letter queue (once visible again, on the next receive, as moto does it): such a message is
  counted `to_destination` at its last failure, and parked.py reads it back from the DLQ. Without one,
  SQS keeps redelivering it until MessageRetentionPeriod deletes it;
- FunctionResponseTypes [ReportBatchItemFailures]: ``{"batchItemFailures": [{"itemIdentifier":
  "<messageId>"}]}`` (Powertools' BatchProcessor for SQS) deletes all but the reported messages. An
  empty or null list, or a null response, is complete success; an itemIdentifier that is empty, null,
  under a bad key name or not a message of the batch, or a response that is not JSON, fails the whole
  batch (Success and failure conditions, services-sqs-errorhandling.html);
- FIFO queues: SQS returns no message of a group while an earlier one of it is in flight, so a
  group's messages reach the function in order and one batch per group is in flight ("each batch may
  contain messages from more than one message group, but the order of the messages is maintained");
- the mapping is refused where Lambda refuses it (sqs_config.py: the bounds above, and a queue whose
  VisibilityTimeout is shorter than the function's Timeout).

Virtual time (`localfaas run`): a failed message is made visible again (ChangeMessageVisibility 0) by
a task scheduled one VisibilityTimeout later on the virtual scheduler, so a retry costs no wall-clock
wait. A message failing without a RedrivePolicy is retried VIRTUAL_RECEIVES_WITHOUT_DLQ times and then
left in flight: the run stops as stuck and reports it never settled (lost), which is what SQS does
with it in the end, days later, when its retention period runs out. Real time (`localfaas up`): the
backend's own visibility timeout brings messages back.

MaximumConcurrency (2-1000) bounds the batches one real-time poll invokes; without it Lambda "starts
processing five batches at a time". localfaas invokes those batches one after another, not at once, so
the bound paces the source beside the others rather than limiting parallel invocations. A virtual-time
poll (`flush`) drains what is visible at once: an invocation takes no virtual time, so however many
batches AWS would run side by side, they all happen at that instant, and a retry is due one visibility
timeout after it, not after one timeout per round of five batches.

The report's row (report.source_summary): `delivered` messages deleted after success, `filtered` ones
deleted unmatched, `retried` invocations that carried a message received before, `to_destination`
messages left to the queue's redrive at their last allowed receive, `unsettled` what is still failing
or still in the queue at the end of a run (lost then; pending when `up` is stopped). Nothing is
`discarded`: Lambda hands every failure back to the queue.

Durable as the queue is: messages live in the backend (LocalStack's or AWS's outlive localfaas; the
in-process moto's do not); the mapping keeps its counts (saved by the stack) and the receipts of what it
holds unsettled (`sqs-in-flight:<id>` in the store). A run restarted in virtual time makes those visible
at once, as the time the restart took would have; in real time they come back when their timeout ends.

Not emulated: the poller's scaling (up to 1,250 concurrent batches, 300 more a minute) and its
back-off after errors, provisioned mode (ProvisionedPollerConfig), long polling, MessageRetentionPeriod
and DelaySeconds in virtual time (the backend counts them on the wall clock), throttling-specific
retries, and KMS.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from localfaas.esm import MAX_PAYLOAD_BYTES, InvalidEventSourceMappingError, PollReport
from localfaas.event_sources import StackServices, register
from localfaas.pattern import matches_filter_criteria
from localfaas.report import source_summary
from localfaas.sqs_config import RECEIVE_MAX as _RECEIVE_MAX
from localfaas.sqs_config import SqsMappingConfig
from localfaas.sqs_event import RECEIVE_REQUEST, reported_failures, sqs_event, sqs_record

if TYPE_CHECKING:
    from localfaas.runtime import InvocationResult
    from localfaas.template import Resource

__all__ = ["VIRTUAL_RECEIVES_WITHOUT_DLQ", "SqsEventSourceMapping"]

logger = logging.getLogger(__name__)

VIRTUAL_RECEIVES_WITHOUT_DLQ = 10
_REMEMBERED_REDRIVES = 1000  # enough to see a backend deliver one again instead of moving it
_QUEUE_COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


class SqsEventSourceMapping:
    """Polls one queue for one function (event_sources.EventSource)."""

    def __init__(self, config: SqsMappingConfig, services: StackServices) -> None:
        self.config = config
        self.logical_id = config.logical_id
        self.function_name = config.function_name
        self.stats = PollReport()
        self._services = services
        self._sqs = services.client("sqs")
        self._gathered: dict[str, dict[str, Any]] = {}  # messageId -> record, matched, waiting for a batch
        self._sizes: dict[str, int] = {}  # messageId -> its bytes in the event
        self._gathered_bytes = 0
        self._gathering_since: float | None = None
        self._failing: dict[str, int] = {}  # messageId -> receive count, failed and coming back
        self._receipts: dict[str, str] = {}  # messageId -> its latest receipt handle
        self._redriven: dict[str, None] = {}  # messageIds the queue is to move to its DLQ, oldest first
        self._not_moved: set[str] = set()  # ...that the backend delivered again instead
        self._warned: set[str] = set()
        self._in_flight_key = f"sqs-in-flight:{config.logical_id}"
        self._release_what_a_killed_run_held()

    # -- the contract -------------------------------------------------------------------------------

    def poll_once(self, *, flush: bool = False) -> PollReport:
        report = PollReport()
        if self.config.enabled:
            batches = 0
            while flush or batches < self.config.concurrent_batches:
                batch = self._next_batch(report, flush)
                if not batch:
                    break
                self._invoke_batch(batch, report)
                batches += 1
        self.stats.add(report)
        return report

    def caught_up(self) -> bool:
        if not self.config.enabled:
            return True
        if self._gathered or self._failing:
            return False
        return self._queue_count(*_QUEUE_COUNTS) == 0

    def idle_rounds(self) -> int:
        # Retries wait on the scheduler, which counts as progress; only a truly stuck queue idles.
        return 2

    def summary(self, function: str, lost: list[str], *, stopped: bool) -> dict[str, Any]:
        unsettled = len(self._failing) + len(self._gathered)
        if not stopped and self.config.enabled:
            # What the queue still holds: those, and what was never received (behind them in a group).
            unsettled = max(unsettled, self._queue_count(*_QUEUE_COUNTS))
        records = self.stats.records_settled + unsettled
        return source_summary(
            self.logical_id, function, self.config.queue_name, self.stats, records, lost,
            stopped=stopped, unsettled=unsettled,
        )  # fmt: skip

    def close(self) -> None:
        # What is gathered stays in flight in the queue and comes back after its visibility timeout.
        self._gathered.clear()
        self._sizes.clear()
        self._gathered_bytes = 0

    # -- what is in flight, across a kill ----------------------------------------------------------

    def _release_what_a_killed_run_held(self) -> None:
        """The messages an earlier run received and never settled come back after their visibility
        timeout. In virtual time the time a restart takes counts for that: they are visible at once."""
        held = self._services.store.get(self._in_flight_key) or {}
        if held and not self._services.real_time:
            for receipt in held.values():
                self._visible_again(receipt)
        self._services.store.put(self._in_flight_key, {})
        self._saved_in_flight: dict[str, str] = {}

    def _save_in_flight_if_changed(self) -> None:
        """The receipts of what is received and unsettled (gathered, failing, for the queue to move)."""
        held = {m: r["receiptHandle"] for m, r in self._gathered.items()}
        held.update({m: self._receipts[m] for m in (*self._failing, *self._redriven) if m in self._receipts})
        if held != self._saved_in_flight:
            self._services.store.put(self._in_flight_key, held)
            self._saved_in_flight = held

    def _visible_again(self, receipt: str) -> None:
        try:
            self._sqs.change_message_visibility(
                QueueUrl=self.config.queue_url, ReceiptHandle=receipt, VisibilityTimeout=0
            )
        except ClientError as exc:  # deleted or moved meanwhile: nothing left to bring back
            logger.debug("%s: a message was not made visible: %s", self.logical_id, exc)

    # -- receiving ----------------------------------------------------------------------------------

    def _next_batch(self, report: PollReport, flush: bool) -> list[dict[str, Any]]:
        """The next batch to invoke: gathered up to BatchSize and 6 MB, once full or its window is over."""
        while not self._full():
            wanted = min(_RECEIVE_MAX, self.config.batch_size - len(self._gathered))
            messages = self._sqs.receive_message(
                QueueUrl=self.config.queue_url,
                MaxNumberOfMessages=wanted,
                WaitTimeSeconds=0,
                **RECEIVE_REQUEST,
            ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                record = sqs_record(message, queue_arn=self.config.queue_arn, region=self._services.region)
                self._received(record, report)
                if self._matches(record):
                    self._gather(record)
                else:
                    self._delete([record])
                    self._forget(record["messageId"])
                    report.records_filtered += 1
        self._save_in_flight_if_changed()
        if not self._gathered:
            self._gathering_since = None
            return []
        if not self._full() and not flush and self._gathering():
            report.partitions_waiting += 1
            return []
        self._gathering_since = None
        batch, size = [], _envelope_size()
        for message_id, record in list(self._gathered.items()):
            if batch and size + self._sizes[message_id] > MAX_PAYLOAD_BYTES:
                break
            batch.append(record)
            record_size = self._sizes.pop(message_id)
            size += record_size
            self._gathered_bytes -= record_size
            del self._gathered[message_id]
        return batch

    def _gather(self, record: dict[str, Any]) -> None:
        """Hold a message for its batch; one received again meanwhile (a window longer than the queue's
        visibility timeout) is held once, with its latest receipt."""
        message_id = record["messageId"]
        self._gathered_bytes -= self._sizes.get(message_id, 0)
        self._gathered[message_id] = record
        self._sizes[message_id] = len(json.dumps(record).encode()) + 1  # and a comma
        self._gathered_bytes += self._sizes[message_id]

    def _full(self) -> bool:
        return len(self._gathered) >= self.config.batch_size or self._gathered_bytes >= MAX_PAYLOAD_BYTES

    def _received(self, record: dict[str, Any], report: PollReport) -> None:
        message_id = record["messageId"]
        self._receipts[message_id] = record["receiptHandle"]
        if message_id in self._redriven:  # the backend delivered it again instead of moving it
            self._redriven.pop(message_id, None)
            self._not_moved.add(message_id)
            report.records_to_destination -= 1
            self._warn_once(
                "no-redrive",
                f"{self.logical_id}: the backend received {message_id} again past maxReceiveCount "
                f"instead of moving it to {self.config.dead_letter_arn}; delivering it again",
            )

    def _gathering(self) -> bool:
        now = self._services.scheduler.now()
        if self._gathering_since is None:
            self._gathering_since = now
        return now - self._gathering_since < self.config.batching_window_s

    def _matches(self, record: dict[str, Any]) -> bool:
        if not self.config.filters:
            return True
        try:
            return matches_filter_criteria(list(self.config.filters), record)
        except Exception:  # matches no pattern, as esm.py reasons: a filter failing once fails always
            logger.exception("%s: cannot filter %s; filtered out", self.logical_id, record["messageId"])
            return False

    # -- invoking and settling ----------------------------------------------------------------------

    def _invoke_batch(self, batch: list[dict[str, Any]], report: PollReport) -> None:
        report.invocations += 1
        if any(record["attributes"].get("ApproximateReceiveCount", "1") != "1" for record in batch):
            report.retries += 1  # it carries a message received before (failed, or its poller crashed)
        try:
            result = self._services.invoke(self.function_name, sqs_event(batch))
        except BaseException:  # a crash of the poller: the messages come back from the queue
            for record in batch:
                self._return_later(record)
            raise
        failed = self._failed_ids(batch, result)
        done = [record for record in batch if record["messageId"] not in failed]
        self._delete(done)
        report.records_delivered += len(done)
        for record in batch:
            if record["messageId"] in failed:
                self._fail(record, report)
            else:
                self._forget(record["messageId"])
        self._save_in_flight_if_changed()

    def _failed_ids(self, batch: list[dict[str, Any]], result: InvocationResult) -> set[str]:
        """The messageIds to leave in the queue: all of them unless a valid partial batch response names some."""
        everything = {record["messageId"] for record in batch}
        if not result.ok:
            return everything
        if not self.config.report_batch_item_failures:
            return set()
        reported = reported_failures(result.payload, everything)
        return everything if reported is None else reported

    def _fail(self, record: dict[str, Any], report: PollReport) -> None:
        message_id = record["messageId"]
        count = int(record["attributes"].get("ApproximateReceiveCount", "1"))
        limit = self.config.max_receive_count
        moves = limit is not None and message_id not in self._not_moved
        if limit is not None and moves and count >= limit:
            report.records_to_destination += 1
            self._failing.pop(message_id, None)
            self._redriven[message_id] = None
            while len(self._redriven) > _REMEMBERED_REDRIVES:  # long moved: their receipts are dead
                self._receipts.pop(next(iter(self._redriven)), None)
                del self._redriven[next(iter(self._redriven))]
            self._return_later(record)  # visible again, so the queue's next receive moves it
            return
        self._failing[message_id] = count
        if not moves and not self._services.real_time and count >= VIRTUAL_RECEIVES_WITHOUT_DLQ:
            self._warn_once(
                message_id,
                f"{self.logical_id}: {message_id} failed {count} times and its queue has no RedrivePolicy; "
                "SQS would redeliver it until its retention period ends: left in flight, never settled",
            )
            return
        self._return_later(record)

    def _return_later(self, record: dict[str, Any]) -> None:
        """Virtual time: the visibility timeout passes on the virtual clock (the backend counts the wall
        clock's). Real time: the backend's own timeout brings the message back."""
        if self._services.real_time:
            return
        message_id, receipt = record["messageId"], record["receiptHandle"]

        def visible_again() -> None:
            if self._receipts.get(message_id) == receipt:  # not received again since (the wall clock's
                self._visible_again(receipt)  # timeout ran out first): ours to bring back

        self._services.scheduler.call_later(self.config.visibility_timeout_s, visible_again)

    def _delete(self, records: list[dict[str, Any]]) -> None:
        for start in range(0, len(records), _RECEIVE_MAX):
            chunk = records[start : start + _RECEIVE_MAX]
            entries = [{"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(chunk)]
            answer = self._sqs.delete_message_batch(QueueUrl=self.config.queue_url, Entries=entries)
            for failure in answer.get("Failed", []):
                # A receipt that expired: the message is delivered again (at least once).
                logger.warning("%s: could not delete a message: %s", self.logical_id, failure.get("Message"))

    def _forget(self, message_id: str) -> None:
        self._failing.pop(message_id, None)
        self._receipts.pop(message_id, None)

    # -- reading ------------------------------------------------------------------------------------

    def _queue_count(self, *names: str) -> int:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self.config.queue_url, AttributeNames=list(names)
        )
        return sum(int(attributes.get("Attributes", {}).get(name, 0)) for name in names)

    def _warn_once(self, key: str, text: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning("%s", text)


def _envelope_size() -> int:
    return len(json.dumps(sqs_event([])).encode())


@register("AWS::Lambda::EventSourceMapping")
def sqs_event_source(resource: Resource, services: StackServices) -> SqsEventSourceMapping | None:
    """The mapping's source when it reads an SQS queue; None for any other kind of mapping."""
    arn = resource.properties.get("EventSourceArn")
    if not isinstance(arn, str) or not arn.startswith("arn:") or arn.split(":")[2:3] != ["sqs"]:
        return None
    if len(arn.split(":")) != 6:
        raise InvalidEventSourceMappingError(
            resource.logical_id, "EventSourceArn", f"Value '{arn}' is not an Amazon SQS queue ARN"
        )
    function = services.template.function(str(resource.properties.get("FunctionName", "")))
    try:
        config = SqsMappingConfig.from_resource(resource, services, function.timeout, function.function_name)
    except ClientError as exc:  # the queue is not on the backend (outside the template)
        services.warn(f"{resource.logical_id}: cannot read queue {arn}: {exc}")
        return None
    return SqsEventSourceMapping(config, services)
