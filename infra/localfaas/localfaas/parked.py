"""What a stack's failure destinations hold now: the records and events parked there, read back.

A failure destination is where Lambda or EventBridge puts what it gave up on:
- a Kafka event source mapping's OnFailure destination, an SQS queue, SNS topic, S3 bucket or
  ``kafka://`` topic ("Capturing discarded batches for Amazon MSK and self-managed Apache Kafka
  event sources", https://docs.aws.amazon.com/lambda/latest/dg/kafka-on-failure.html);
- a function's asynchronous OnFailure destination and its dead-letter queue ("Capturing records of
  Lambda asynchronous invocations",
  https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html);
- an EventBridge rule target's DeadLetterConfig ("Using dead-letter queues to process undelivered
  events in EventBridge", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html);
- an SQS queue's RedrivePolicy dead-letter queue, where SQS moves a message received maxReceiveCount
  times (an SQS mapping's failures; "Using dead-letter queues in Amazon SQS",
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html).
- an SNS subscription's RedrivePolicy ("Amazon SNS dead-letter queues",
  https://docs.aws.amazon.com/sns/latest/dg/sns-dead-letter-queues.html).

Each is read through AWS's APIs, without consuming anything: an SQS queue's
ApproximateNumberOfMessages, ...NotVisible and ...Delayed (GetQueueAttributes); an S3 bucket's
objects under ``aws/lambda/<ESM UUID>/``, the key layout destinations.py writes; a ``kafka://`` topic's
messages past what `localfaas redrive` has committed (its consumer group, REDRIVE_GROUP). SNS keeps
nothing to read back, so an SNS destination counts what the stack published to it (`sent`), as
its state folder keeps it (durable.py): a resumed run counts what the killed one sent too. Each count is of documents (one message per failed batch, per event), not of the
records inside them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from localfaas.async_invoke import AsyncInvokeConfig
from localfaas.bus import rules_from_resources
from localfaas.destinations import KAFKA_PREFIX, parse_destination
from localfaas.esm import EventSourceMappingConfig, is_kafka_event_source_mapping
from localfaas.log import Log
from localfaas.sns_source import UNDELIVERABLE, dead_letter_arn
from localfaas.stream_config import StreamMappingConfig, stream_service
from localfaas.template import FunctionNotFound, Stack

__all__ = ["REDRIVE_GROUP", "FailureDestination", "failure_destinations", "kafka_mappings", "parked"]

# The consumer group `localfaas redrive` reads a kafka:// destination with: what it committed is done.
REDRIVE_GROUP = "localfaas-redrive"
_QUEUE_COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


@dataclass
class FailureDestination:
    """One destination and what sends to it: "mapping X", "function F (on-failure)", "function F
    (DLQ)", "rule R target T". `prefixes` are the S3 key prefixes of the mappings that use it."""

    arn: str
    kind: str  # sqs | sns | s3 | kafka
    name: str  # the template's logical id for it, else the ARN
    sources: list[str] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)


def kafka_mappings(stack: Stack) -> list[EventSourceMappingConfig]:
    """The template's Kafka event source mappings, configured as LocalStack runs them."""
    configs = []
    for resource in stack.event_source_mappings:
        if not is_kafka_event_source_mapping(resource.properties):
            continue
        try:
            spec = stack.function(str(resource.properties.get("FunctionName", "")))
        except FunctionNotFound:
            continue
        configs.append(
            EventSourceMappingConfig.from_resource(
                resource.logical_id,
                resource.properties,
                function_name=spec.function_name,
                function_arn=spec.arn,
            )
        )
    return configs


def stream_mappings(stack: Stack) -> list[StreamMappingConfig]:
    """The template's Kinesis and DynamoDB Streams mappings, configured as LocalStack runs them."""
    configs = []
    for resource in stack.event_source_mappings:
        if stream_service(str(resource.properties.get("EventSourceArn", ""))) is None:
            continue
        try:
            spec = stack.function(str(resource.properties.get("FunctionName", "")))
        except FunctionNotFound:
            continue
        configs.append(
            StreamMappingConfig.from_resource(
                resource.logical_id,
                resource.properties,
                function_name=spec.function_name,
                function_arn=spec.arn,
            )
        )
    return configs


def failure_destinations(stack: Stack) -> dict[str, FailureDestination]:
    """Every failure destination of the template, by ARN (or kafka:// URI), with what sends to it."""
    found: dict[str, FailureDestination] = {}

    def add(arn: str | None, source: str, prefix: str | None = None) -> None:
        if not arn:
            return
        if arn not in found:
            found[arn] = FailureDestination(arn, _kind(arn), _logical_id(stack, arn))
        found[arn].sources.append(source)
        if prefix:
            found[arn].prefixes.append(prefix)

    for config in kafka_mappings(stack):
        add(config.on_failure_destination, config.logical_id, f"aws/lambda/{config.uuid}/")
    for stream_config in stream_mappings(stack):
        add(
            stream_config.on_failure_destination,
            stream_config.logical_id,
            f"aws/lambda/{stream_config.uuid}/",
        )
    for spec in stack.functions.values():
        invoke_config = AsyncInvokeConfig.from_properties(spec.event_invoke_config)
        add(invoke_config.on_failure, f"{spec.logical_id} (on-failure)")
        add(spec.dead_letter_arn, f"{spec.logical_id} (DLQ)")
    for rule in rules_from_resources(stack.resources):
        for target in rule.targets:
            add(target.dead_letter_arn, f"{rule.logical_id or rule.name} target {target.id}")
    for queue in stack.resources_of_type("AWS::SQS::Queue"):
        redrive = queue.properties.get("RedrivePolicy") or {}
        if isinstance(redrive, str):
            redrive = json.loads(redrive)
        add(redrive.get("deadLetterTargetArn"), f"{queue.logical_id} (redrive)")
    for subscription in stack.resources_of_type("AWS::SNS::Subscription"):
        # What SNS could not deliver (localfaas.sns_source); a RedrivePolicy that does not parse is
        # named at start, and its subscription not run.
        with suppress(ValueError):
            arn = dead_letter_arn(subscription.properties.get("RedrivePolicy"))
            add(arn, f"{subscription.logical_id} {UNDELIVERABLE}")
    # Lambda and EventBridge destinations pass records on rather than keep them: nothing is parked there.
    return {arn: d for arn, d in found.items() if d.kind in ("sqs", "sns", "s3", "kafka")}


def parked(
    stack: Stack,
    client: Callable[[str], Any],
    *,
    log: Log | None = None,
    sent: Mapping[str, Counter[str]] | None = None,
) -> dict[str, Any]:
    """{"total", "destinations": {arn: {"name", "kind", "count", "source", "reason"}}}. `client(service)`
    is a boto3 client on the stack's backend; `sent` is what this stack sent each destination, by
    reason (requestContext.condition, or EventBridge's EXHAUSTED_RETRY_CONDITION or ERROR_CODE). A
    count that cannot be read is None and left out of the total."""
    sent = sent or {}
    destinations = {}
    for arn, destination in failure_destinations(stack).items():
        reasons = sent.get(arn) or Counter()
        count = _count(destination, client, log, reasons)
        destinations[arn] = {
            "name": destination.name,
            "kind": destination.kind,
            "count": count,
            "source": ", ".join(destination.sources),
            "reason": ", ".join(f"{reason} ({n})" for reason, n in sorted(reasons.items())),
        }
    total = sum(d["count"] or 0 for d in destinations.values())
    return {"total": total, "destinations": destinations}


def _count(
    destination: FailureDestination, client: Callable[[str], Any], log: Log | None, sent: Counter[str]
) -> int | None:
    try:
        if destination.kind == "sqs":
            return _queue_count(client("sqs"), destination.arn)
        if destination.kind == "s3":
            return _object_count(client("s3"), destination.arn, destination.prefixes)
        if destination.kind == "kafka":
            return None if log is None else _topic_count(log, destination.arn.removeprefix(KAFKA_PREFIX))
    except Exception:  # a destination that is gone or unreachable: no number, rather than a wrong one
        return None
    return sum(sent.values())  # SNS: what this stack published there


def _queue_count(sqs: Any, arn: str) -> int:
    parts = arn.split(":")
    url = sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(_QUEUE_COUNTS))["Attributes"]
    return sum(int(attributes.get(name, 0)) for name in _QUEUE_COUNTS)


def _object_count(s3: Any, arn: str, prefixes: list[str]) -> int:
    bucket = parse_destination(arn).name
    pages = s3.get_paginator("list_objects_v2")
    return sum(
        page.get("KeyCount", 0)
        for prefix in prefixes
        for page in pages.paginate(Bucket=bucket, Prefix=prefix)
    )


def _topic_count(log: Log, topic: str) -> int:
    if topic not in log.topics():
        return 0
    total = 0
    for partition in range(log.partitions(topic)):
        done = log.committed(REDRIVE_GROUP, topic, partition)
        start = max(done if done is not None else 0, log.beginning_offset(topic, partition))
        total += log.end_offset(topic, partition) - start
    return total


def _kind(arn: str) -> str:
    if arn.startswith(KAFKA_PREFIX):
        return "kafka"
    parts = arn.split(":")
    return parts[2] if len(parts) > 5 and parts[0] == "arn" else ""


def _logical_id(stack: Stack, arn: str) -> str:
    """The queue, topic or bucket of the template the ARN names (its physical name ends the ARN)."""
    types = {"sqs": "AWS::SQS::Queue", "sns": "AWS::SNS::Topic", "s3": "AWS::S3::Bucket"}
    kind = _kind(arn)
    if kind not in types:
        return arn
    name = arn.rsplit(":", 1)[-1]
    for resource in stack.resources_of_type(types[kind]):
        if resource.physical_name == name:
            return resource.logical_id
    return arn
