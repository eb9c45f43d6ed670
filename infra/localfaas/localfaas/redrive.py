"""Redrive: send again what a stack's failure destinations hold, once the cause of the failure is fixed.

AWS offers no redrive for these destinations (SQS's StartMessageMoveTask moves messages between
queues only), so this does what a careful operator would, from the documents AWS puts there:

- a Kafka mapping's invocation record is "a JSON document containing metadata about the failed
  invocation" ("Capturing discarded batches for Amazon MSK and self-managed Apache Kafka event
  sources", https://docs.aws.amazon.com/lambda/latest/dg/kafka-on-failure.html): its
  ``KafkaBatchInfo.recordsInfo["<topic>-<partition>"]`` names the first and last offsets; a
  ``kafka://`` message carries "the actual failed records along with failure metadata" ("Using a Kafka
  topic as an on-failure destination"), its ``recordInfo`` the record's offset.
  Those records are read back from the log and invoked as the mapping invokes them: the event of
  localfaas.kafka_event, the mapping's FilterCriteria applied, BatchSize records at a time. The first
  and last offsets of a record that ReportBatchItemFailures produced may span records that succeeded
  (AWS's record has room for a range only): they are delivered again too, as at least once allows;
- an asynchronous invocation's on-failure record carries the event as ``requestPayload``, and a
  function's dead-letter queue message is the event itself ("Capturing records of Lambda asynchronous
  invocations", https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html):
  the function is invoked with it again;
- an EventBridge target's DLQ message is the event, its RULE_ARN and TARGET_ARN attributes name where
  it was going ("Using dead-letter queues to process undelivered events in EventBridge",
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html): the rule's target gets
  it again, its Input, InputPath or InputTransformer applied;
- a message SQS moved to a queue's dead-letter queue (its RedrivePolicy) is the original message: it
  is sent back to that queue, body, String attributes and message group, as SQS's own "redrive to
  source queue" does ("Learn how to configure a dead-letter queue redrive in Amazon SQS",
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-configure-dead-letter-queue-redrive.html),
  for the queue's consumers to receive again.
- an SNS subscription's dead-letter queue message is the notification ("Amazon SNS dead-letter
  queues"): the subscription's function is invoked with the event SNS sends (localfaas.sns_source).

Functions are invoked synchronously (RequestResponse), not with InvocationType Event: only an answer
tells whether the redelivery succeeded, and a message is deleted (an object deleted, a kafka://
message committed by REDRIVE_GROUP) only then; one that fails again stays where it is. While a queue is
worked on, its messages are invisible to other consumers (up to VISIBILITY_S, then back on their own);
the failed ones and, in a dry run, all of them are made visible again at the end. Each receive counts
towards a queue's own RedrivePolicy maxReceiveCount, as any consumer's does. SNS keeps nothing to
read back, so an SNS destination cannot be redriven from here (a queue subscribed to it can).

Just past 400 lines: one redelivery per kind of failure destination (Kafka mappings' invocation
records, Kafka topics, bus DLQs, queue redrives, SNS dead letters), each short.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from localfaas.bus import rules_from_resources, target_input
from localfaas.destinations import parse_destination
from localfaas.esm import EventSourceMappingConfig
from localfaas.kafka_event import kafka_event, record_payload
from localfaas.log import Log, LogRecord
from localfaas.parked import REDRIVE_GROUP, FailureDestination, failure_destinations, kafka_mappings
from localfaas.pattern import matches_filter_criteria
from localfaas.sns_source import redelivery
from localfaas.template import FunctionNotFound, FunctionSpec, Stack

__all__ = ["RedriveError", "Redriven", "Redriver"]

# What reading or deleting from a destination may raise: AWS's and botocore's errors, the log's.
_UNREADABLE = (ClientError, BotoCoreError, LookupError, OSError)
VISIBILITY_S = 900  # Lambda's longest timeout: a message being redriven is not handed to anyone else
Invoke = Callable[[str, Any], Any]  # (function name, event) -> an InvocationResult


class RedriveError(Exception):
    """One message cannot be sent again (yet): why, in words that name no payload value."""


@dataclass(frozen=True)
class Redriven:
    """What became of one parked message: `what` names it by coordinates and ids, never by content."""

    destination: str
    what: str
    ok: bool
    error: str | None = None


@dataclass
class _Message:
    body: str
    attributes: dict[str, str]
    done: Callable[[], None]  # delete it (or commit past it): called only after a redelivery succeeded
    group_id: str | None = None  # a FIFO queue's MessageGroupId
    message_id: str = ""


class Redriver:
    """Redrives the failure destinations of `stack` on its backend (`client(service)`), reading Kafka
    records from `log`; `invoke(function_name, event)` runs a function synchronously."""

    def __init__(self, stack: Stack, client: Callable[[str], Any], log: Log | None, invoke: Invoke) -> None:
        self.stack, self._client, self._log, self._invoke = stack, client, log, invoke
        self.destinations = failure_destinations(stack)
        self._mappings = kafka_mappings(stack)
        self._rules = {
            rule.arn(stack.account_id, stack.region): rule for rule in rules_from_resources(stack.resources)
        }

    def select(self, source: str | None) -> list[FailureDestination]:
        """The destinations to redrive: all, or those `source` names (a destination's ARN or logical id,
        or a mapping, function or rule that sends to it). RedriveError when it names none."""
        if source is None:
            return list(self.destinations.values())
        chosen = [
            d
            for d in self.destinations.values()
            if source in (d.arn, d.name) or any(s.split(" ")[0] == source for s in d.sources)
        ]
        if not chosen:
            known = ", ".join(sorted(d.name for d in self.destinations.values())) or "none"
            raise RedriveError(
                f"{source!r} is no failure destination of the template, nor sends to one ({known})"
            )
        return chosen

    def redrive(self, *, source: str | None = None, dry_run: bool = False) -> list[Redriven]:
        """Send every parked message of the selected destinations again; in a dry run, only say what."""
        results: list[Redriven] = []
        for destination in self.select(source):
            whole = source in (None, destination.arn, destination.name)
            try:
                for message in self._messages(destination, dry_run):
                    result = self._redrive_one(destination, message, None if whole else source, dry_run)
                    if result is not None:
                        results.append(result)
            except _UNREADABLE as e:  # the destination itself: gone, unreachable, refused
                results.append(
                    Redriven(destination.name, "the destination", False, f"cannot read it ({_why(e)})")
                )
        return results

    def _redrive_one(
        self, destination: FailureDestination, message: _Message, sender: str | None, dry_run: bool
    ) -> Redriven | None:
        try:
            sent_by, what, send = self._plan(destination, message)
        except RedriveError as e:
            return Redriven(destination.name, "a message", False, str(e))
        if sender is not None and sent_by != sender:
            return None  # another sender's message in a shared destination
        if dry_run:
            return Redriven(destination.name, what, True)
        try:
            send()
        except RedriveError as e:
            return Redriven(destination.name, what, False, str(e))
        try:
            message.done()
        except _UNREADABLE as e:
            error = f"sent again, but not deleted ({_why(e)}): the next redrive sends it once more"
            return Redriven(destination.name, what, False, error)
        return Redriven(destination.name, what, True)

    # -- reading a destination --------------------------------------------------------------------

    def _messages(self, destination: FailureDestination, dry_run: bool) -> Iterator[_Message]:
        if destination.kind == "sqs":
            yield from self._queue_messages(destination, dry_run)
        elif destination.kind == "s3":
            yield from self._objects(destination)
        elif destination.kind == "kafka":
            yield from self._topic_messages(destination, dry_run)
        # SNS: nothing to read back (see the module's docstring).

    def _queue_messages(self, destination: FailureDestination, dry_run: bool) -> Iterator[_Message]:
        sqs = self._client("sqs")
        parts = destination.arn.split(":")
        url = sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
        kept: list[str] = []
        try:
            while True:
                answer = sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=VISIBILITY_S,
                    MessageAttributeNames=["All"],
                    MessageSystemAttributeNames=["MessageGroupId"],
                )
                if not answer.get("Messages"):
                    return
                for message in answer["Messages"]:
                    handle = message["ReceiptHandle"]
                    kept.append(handle)
                    attributes = {
                        name: value.get("StringValue", "")
                        for name, value in (message.get("MessageAttributes") or {}).items()
                    }

                    def delete(handle: str = handle) -> None:
                        sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
                        kept.remove(handle)

                    group = (message.get("Attributes") or {}).get("MessageGroupId")
                    yield _Message(message["Body"], attributes, delete, group, message["MessageId"])
        finally:  # what was not redriven is visible again at once, not after VISIBILITY_S
            for handle in kept:
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)

    def _objects(self, destination: FailureDestination) -> Iterator[_Message]:
        s3 = self._client("s3")
        bucket = parse_destination(destination.arn).name
        for prefix in destination.prefixes:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode()
                    yield _Message(body, {}, lambda key=item["Key"]: s3.delete_object(Bucket=bucket, Key=key))

    def _topic_messages(self, destination: FailureDestination, dry_run: bool) -> Iterator[_Message]:
        """A kafka:// destination, past what REDRIVE_GROUP committed. A partition stops at the first
        message that fails again: the committed offset cannot skip it."""
        log, topic = self._log, destination.arn.removeprefix("kafka://")
        if log is None or topic not in log.topics():
            return
        for partition in range(log.partitions(topic)):
            done = log.committed(REDRIVE_GROUP, topic, partition)
            offset = max(done or 0, log.beginning_offset(topic, partition))
            stopped = False
            while not stopped and (records := log.read(topic, partition, offset, 100)):
                for record in records:
                    committed: list[bool] = []

                    def commit(record: LogRecord = record, committed: list[bool] = committed) -> None:
                        log.commit(REDRIVE_GROUP, record.topic, record.partition, record.offset + 1)
                        committed.append(True)

                    yield _Message((record.value or b"").decode(errors="replace"), {}, commit)
                    if not committed and not dry_run:
                        stopped = True
                        break
                offset = records[-1].offset + 1

    # -- what a message is, and how to send it again ---------------------------------------------

    def _plan(
        self, destination: FailureDestination, message: _Message
    ) -> tuple[str, str, Callable[[], None]]:
        """(who sent it: a logical id, what it is: coordinates and ids, how to send it again)."""
        attributes = message.attributes
        if "RULE_ARN" in attributes and "TARGET_ARN" in attributes:
            return self._plan_event(message, attributes["RULE_ARN"], attributes["TARGET_ARN"])
        try:
            body = json.loads(message.body)
        except ValueError:
            body = None
        if "RequestID" in attributes:  # a function's DLQ: the body is the event
            function = self._dlq_function(destination)
            what = f"{function.logical_id} request {attributes['RequestID']}"
            return function.logical_id, what, lambda: self._call(function.function_name, body)
        if isinstance(body, dict) and isinstance(body.get("KafkaBatchInfo"), dict):
            return self._plan_records(body)
        if (
            isinstance(body, dict)
            and "requestPayload" in body
            and isinstance(body.get("requestContext"), dict)
        ):
            context = body["requestContext"]
            function = self._function(str(context.get("functionArn", "")))
            what = f"{function.logical_id} request {context.get('requestId')} ({context.get('condition')})"
            return (
                function.logical_id,
                what,
                lambda: self._call(function.function_name, body["requestPayload"]),
            )
        queues = [s.removesuffix(" (redrive)") for s in destination.sources if s.endswith(" (redrive)")]
        if len(queues) == 1:
            return queues[0], f"{queues[0]} message", lambda: self._send_back(queues[0], message)
        if isinstance(body, dict) and body.get("Type") == "Notification" and "TopicArn" in body:
            found = redelivery(self.stack, destination.sources, body)
            if found is None:
                raise RedriveError(f"no subscription of {body['TopicArn']} in the template parks here")
            sender, function, event = found
            what = f"{sender} message {body.get('MessageId')}"
            return sender, what, lambda: self._call(function, event)
        raise RedriveError("not an invocation record, DLQ message or undelivered event: left where it is")

    def _send_back(self, queue: str, message: _Message) -> None:
        """A message of a queue's dead-letter queue, to that queue again (its consumers receive it)."""
        sqs = self._client("sqs")
        request: dict[str, Any] = {
            "QueueUrl": sqs.get_queue_url(QueueName=self.stack.physical_names.get(queue, queue))["QueueUrl"],
            "MessageBody": message.body,
        }
        if message.attributes:
            request["MessageAttributes"] = {
                name: {"DataType": "String", "StringValue": value}
                for name, value in message.attributes.items()
            }
        if message.group_id is not None:  # a FIFO queue: sent again after a failed delete, it is deduplicated
            request["MessageGroupId"] = message.group_id
            request["MessageDeduplicationId"] = message.message_id
        try:
            sqs.send_message(**request)
        except _UNREADABLE as e:
            raise RedriveError(f"{queue} refused it ({_why(e)})") from None

    def _plan_event(
        self, message: _Message, rule_arn: str, target_arn: str
    ) -> tuple[str, str, Callable[[], None]]:
        rule = self._rules.get(rule_arn)
        target = next((t for t in rule.targets if t.arn == target_arn), None) if rule else None
        if rule is None or target is None:
            raise RedriveError(f"rule {rule_arn} has no target {target_arn} in the template")
        try:
            event = json.loads(message.body)
        except ValueError:
            raise RedriveError(f"rule {rule.logical_id}: the message is not an event") from None
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        payload = target_input(target, event, rule_arn, rule.name, now)
        sender = rule.logical_id or rule.name
        what = f"{sender} target {target.id} event {event.get('id') if isinstance(event, dict) else '?'}"
        return sender, what, lambda: self._deliver(target_arn, payload)

    def _plan_records(self, document: dict[str, Any]) -> tuple[str, str, Callable[[], None]]:
        function = self._function(str((document.get("requestContext") or {}).get("functionArn", "")))
        info = document["KafkaBatchInfo"]
        if "recordInfo" in info:  # a kafka:// message: one record, its topic-partition in the payload
            keys = list((document.get("payload") or {}).get("records") or {})
            if len(keys) != 1:
                raise RedriveError(f"{function.logical_id}: the message names no topic-partition")
            key, first = keys[0], int(info["recordInfo"]["offset"])
            last = first
        else:
            spans = info.get("recordsInfo") or {}
            if len(spans) != 1:
                raise RedriveError(f"{function.logical_id}: the record names no topic-partition")
            key, span = next(iter(spans.items()))
            first, last = int(span["firstRecordOffset"]), int(span["lastRecordOffset"])
        topic, _, partition = key.rpartition("-")
        mapping = next(
            (m for m in self._mappings if m.function_name == function.function_name and topic in m.topics),
            None,
        )
        if mapping is None or not partition.isdigit():
            raise RedriveError(f"no Kafka mapping of {function.logical_id} reads {key}")
        what = f"{mapping.logical_id} {key}@{first}..{last}"
        servers = info.get("bootstrapServers")
        send = lambda: self._redeliver_records(mapping, topic, int(partition), first, last, servers)  # noqa: E731
        return mapping.logical_id, what, send

    def _redeliver_records(
        self,
        mapping: EventSourceMappingConfig,
        topic: str,
        partition: int,
        first: int,
        last: int,
        servers: Any,
    ) -> None:
        if self._log is None:
            raise RedriveError("no log to read the records back from (--log-dir or --bootstrap-servers)")
        try:
            if self._log.beginning_offset(topic, partition) > first:
                raise RedriveError(f"{topic}-{partition}@{first} is no longer in the log (retention)")
            records: list[LogRecord] = []
            offset = first
            while offset <= last and (read := self._log.read(topic, partition, offset, last - offset + 1)):
                records += [r for r in read if r.offset <= last]
                offset = read[-1].offset + 1
        except LookupError as e:  # the topic or partition is gone
            raise RedriveError(str(e)) from None
        if mapping.filters:
            records = [
                r for r in records if matches_filter_criteria(list(mapping.filters), record_payload(r))
            ]
        arn = mapping.event_source_arn if mapping.source == "msk" else None
        bootstrap = servers or ",".join(mapping.bootstrap_servers) or "localhost:9092"
        for start in range(0, len(records), mapping.batch_size):
            batch = records[start : start + mapping.batch_size]
            event = kafka_event(
                batch, source=mapping.source, event_source_arn=arn, bootstrap_servers=bootstrap
            )
            result = self._call(mapping.function_name, event)
            failures = result.payload.get("batchItemFailures") if isinstance(result.payload, dict) else None
            if mapping.report_batch_item_failures and failures:
                raise RedriveError(f"{mapping.function_name} reported {len(failures)} record(s) failed again")

    # -- delivering -------------------------------------------------------------------------------

    def _call(self, function: str, event: Any) -> Any:
        result = self._invoke(function, event)
        if not result.ok:
            kind = (result.error or {}).get("errorType", "an error")
            raise RedriveError(f"{function} failed again ({kind})")
        return result

    def _deliver(self, target_arn: str, payload: Any) -> None:
        """A rule's target, as LocalStack delivers to it: Lambda invoked, SQS and SNS sent the payload."""
        service = target_arn.split(":")[2]
        body = payload if isinstance(payload, str) else json.dumps(payload)
        try:
            if service == "lambda":
                self._call(self._function(target_arn).function_name, payload)
            elif service == "sqs":
                sqs, parts = self._client("sqs"), target_arn.split(":")
                url = sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
                sqs.send_message(QueueUrl=url, MessageBody=body)
            elif service == "sns":
                self._client("sns").publish(TopicArn=target_arn, Message=body)
            else:
                raise RedriveError(f"localfaas does not deliver to {service} targets")
        except RedriveError:
            raise
        except Exception as e:  # botocore's errors: the target is still unreachable
            raise RedriveError(f"{target_arn} refused it ({type(e).__name__})") from None

    def _function(self, name_or_arn: str) -> FunctionSpec:
        try:
            return self.stack.function(name_or_arn.removesuffix(":$LATEST"))
        except FunctionNotFound:
            raise RedriveError(f"function {name_or_arn} is not in the template") from None

    def _dlq_function(self, destination: FailureDestination) -> FunctionSpec:
        """DLQ messages do not name their function: the queue must be the DLQ of one function only."""
        owners = [s.removesuffix(" (DLQ)") for s in destination.sources if s.endswith(" (DLQ)")]
        if len(owners) != 1:
            raise RedriveError(
                f"{destination.name} is the DLQ of {len(owners)} functions: which one is unknown"
            )
        return self._function(owners[0])


def _why(error: Exception) -> str:
    """AWS's error code, or the exception's kind: never a message, which may quote a payload."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "ClientError"))
    return type(error).__name__
