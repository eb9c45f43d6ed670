"""Triggers localfaas does not run: named once at start with the AWS page of what is missing, and, in
the report, each one that had work (so a run that skipped it never says NOTHING LOST).

A trigger is what makes AWS invoke a function or feed a queue without anyone calling it. Those no
kind of localfaas.event_sources runs, read from the template after SAM's translation:
- an AWS::Lambda::EventSourceMapping that is neither Kafka nor run by a kind (SQS, Kinesis,
  DynamoDB, MQ, DocumentDB; event_sources.not_run_warning). Its work: the messages waiting in its
  SQS queue when no running source reads that queue too (consumers of a queue share its messages;
  GetQueueAttributes ApproximateNumberOfMessages, with those in flight), or the records written to
  its Kinesis or DynamoDB stream since the stack started, whoever else reads them (each mapping of a
  stream reads every record; GetShardIterator TRIM_HORIZON, GetRecords, by arrival or creation time);
- an AWS::S3::Bucket's NotificationConfiguration (Lambda, queue, topic or EventBridge; "Amazon S3
  Event Notifications", https://docs.aws.amazon.com/AmazonS3/latest/userguide/EventNotifications.html):
  the bucket is made, its notifications are not. Its work, for s3:ObjectCreated:* events: the objects
  put in the bucket since the stack started, within the configuration's prefix and suffix filters
  (ListObjectsV2);
- an AWS::SNS::Topic's inline Subscription with protocol lambda (its AWS::SNS::Subscription form is
  run by localfaas.sns_source), an AWS::Scheduler::Schedule, an AWS::Logs::SubscriptionFilter, an
  AWS::IoT::TopicRule and an AWS::Cognito::UserPool's LambdaConfig: named, their work not measured.
Reads the backend through AWS APIs only, so it means the same on moto, LocalStack and AWS.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from localfaas.esm import is_kafka_event_source_mapping
from localfaas.event_sources import not_run_warning

if TYPE_CHECKING:
    from localfaas.template import Resource, Stack

__all__ = ["SkippedTrigger", "skipped_triggers", "skipped_work"]

Client = Callable[[str], Any]

_S3_PAGE = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/EventNotifications.html"
_S3_KINDS = {
    "LambdaConfigurations": "Lambda",
    "QueueConfigurations": "SQS",
    "TopicConfigurations": "SNS",
}
_NAMED_ONLY = {
    "AWS::Scheduler::Schedule": (
        "EventBridge Scheduler schedule",
        "https://docs.aws.amazon.com/scheduler/latest/UserGuide/what-is-scheduler.html",
    ),
    "AWS::Logs::SubscriptionFilter": (
        "CloudWatch Logs subscription filter",
        "https://docs.aws.amazon.com/lambda/latest/dg/services-cloudwatchlogs.html",
    ),
    "AWS::IoT::TopicRule": ("AWS IoT rule", "https://docs.aws.amazon.com/lambda/latest/dg/services-iot.html"),
}


@dataclass(frozen=True)
class SkippedTrigger:
    logical_id: str
    warning: str  # the start-up line: what is not run, and the AWS page of it
    reads: str = ""  # what its work is counted from: "sqs:<queue ARN>", "s3:<bucket>"
    prefix: str = ""
    suffix: str = ""


def skipped_triggers(template: Stack, running: set[str]) -> list[SkippedTrigger]:
    """Every trigger of the template that neither the Kafka mappings nor a running source (by
    logical id, in `running`) serve, in template order."""
    skipped: list[SkippedTrigger] = []
    for logical_id in template.resources:
        resource = template.resource(logical_id)
        if logical_id in running:
            continue
        skipped.extend(_of(resource))
    return skipped


def _of(resource: Resource) -> Iterable[SkippedTrigger]:
    props, kind = resource.properties, resource.type
    if kind == "AWS::Lambda::EventSourceMapping":
        if is_kafka_event_source_mapping(props):
            return
        arn = str(props.get("EventSourceArn", ""))
        service = arn.split(":")[2] if arn.count(":") >= 5 else ""
        reads = f"{service}:{arn}" if service in ("sqs", "kinesis", "dynamodb") else ""
        yield SkippedTrigger(resource.logical_id, not_run_warning(resource.logical_id, service), reads)
    elif kind == "AWS::S3::Bucket":
        notifications = props.get("NotificationConfiguration") or {}
        for key, target in _S3_KINDS.items():
            for configuration in notifications.get(key) or []:
                prefix, suffix = _key_filter(configuration)
                # Objects in the bucket measure only what creating them would have notified.
                created = str(configuration.get("Event", "")).startswith("s3:ObjectCreated:")
                yield SkippedTrigger(
                    resource.logical_id,
                    f"{resource.logical_id}: S3 event notifications to {target} are not run by localfaas "
                    f"({_S3_PAGE}); skipped",
                    f"s3:{resource.physical_name}" if created else "",
                    prefix,
                    suffix,
                )
        if notifications.get("EventBridgeConfiguration"):
            yield SkippedTrigger(
                resource.logical_id,
                f"{resource.logical_id}: S3 events to EventBridge are not sent by localfaas "
                "(https://docs.aws.amazon.com/AmazonS3/latest/userguide/EventBridge.html); skipped",
                f"s3:{resource.physical_name}",
            )
    elif kind == "AWS::SNS::Topic":
        for subscription in props.get("Subscription") or []:
            if str(subscription.get("Protocol", "")).lower() == "lambda":
                yield SkippedTrigger(
                    resource.logical_id,
                    f"{resource.logical_id}: an inline Subscription with protocol lambda is not run by "
                    "localfaas (https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html); write it as an "
                    "AWS::SNS::Subscription (or a function's `Type: SNS` event); skipped",
                )
    elif kind in _NAMED_ONLY:
        what, page = _NAMED_ONLY[kind]
        yield SkippedTrigger(
            resource.logical_id, f"{resource.logical_id}: {what} is not run by localfaas ({page}); skipped"
        )
    elif kind == "AWS::Cognito::UserPool" and props.get("LambdaConfig"):
        yield SkippedTrigger(
            resource.logical_id,
            f"{resource.logical_id}: Cognito user pool triggers are not run by localfaas "
            "(https://docs.aws.amazon.com/cognito/latest/developerguide/cognito-user-pools-working-with-lambda-triggers.html); skipped",
        )


def _key_filter(configuration: dict[str, Any]) -> tuple[str, str]:
    rules = ((configuration.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
    values = {str(rule.get("Name", "")).lower(): str(rule.get("Value", "")) for rule in rules}
    return values.get("prefix", ""), values.get("suffix", "")


def skipped_work(
    skipped: Iterable[SkippedTrigger], client: Client, *, since: dt.datetime, read_elsewhere: set[str]
) -> list[str]:
    """One line per skipped trigger that had work: what waits for it, read from the backend. Queues in
    `read_elsewhere` (ARNs a running source reads) are someone else's work, not this trigger's."""
    lines = []
    for trigger in skipped:
        kind, _, name = trigger.reads.partition(":")
        if kind == "sqs" and name not in read_elsewhere:
            waiting = _waiting(client, name)
            if waiting:
                lines.append(
                    f"{trigger.logical_id}: {waiting} message(s) wait in {name.rsplit(':', 1)[-1]}, which no running source reads"
                )
        elif kind in ("kinesis", "dynamodb"):  # every mapping reads all of a stream: another's is no excuse
            written = _stream_records_since(client, kind, name, since)
            if written:
                lines.append(
                    f"{trigger.logical_id}: {written} record(s) written to {_stream_name(name)} since the "
                    "start, which it did not read"
                )
        elif kind == "s3":
            put = _objects_since(client, name, since, trigger.prefix, trigger.suffix)
            if put:
                lines.append(
                    f"{trigger.logical_id}: {put} object(s) put in {name} since the start; their notifications were not sent"
                )
    return lines


def _waiting(client: Client, queue_arn: str) -> int:
    parts = queue_arn.split(":")
    sqs = client("sqs")
    try:
        url = sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    except Exception:  # a queue the backend does not have: nothing can wait in it
        return 0
    return sum(int(attributes.get(name, 0)) for name in names)


def _objects_since(client: Client, bucket: str, since: dt.datetime, prefix: str, suffix: str) -> int:
    count = 0
    try:
        for page in client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if item["Key"].endswith(suffix) and item["LastModified"] >= since:
                    count += 1
    except Exception:  # no such bucket: nothing was put in it
        return 0
    return count


def _stream_records_since(client: Client, service: str, stream_arn: str, since: dt.datetime) -> int:
    """Records of a Kinesis stream or DynamoDB stream written since `since`, read as a consumer reads
    them (ListShards/DescribeStream, GetShardIterator, GetRecords), without taking them from anyone."""
    kinesis = service == "kinesis"
    streams = client("kinesis" if kinesis else "dynamodbstreams")
    count = 0
    try:
        # By name for Kinesis: moto's GetRecords cannot follow an iterator asked for by StreamARN.
        where = {"StreamName": _stream_name(stream_arn)} if kinesis else {"StreamArn": stream_arn}
        if kinesis:
            shards = streams.list_shards(**where)["Shards"]
        else:
            shards = streams.describe_stream(**where)["StreamDescription"]["Shards"]
        for shard in shards:
            iterator = streams.get_shard_iterator(
                **where, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            while iterator:
                answer = streams.get_records(ShardIterator=iterator, Limit=1000)
                records = answer.get("Records", [])
                stamps = [
                    r.get("ApproximateArrivalTimestamp")
                    if kinesis
                    else (r.get("dynamodb") or {}).get("ApproximateCreationDateTime")
                    for r in records
                ]
                count += sum(1 for stamp in stamps if stamp is None or stamp >= since)
                iterator = answer.get("NextShardIterator") if records else None
    except Exception:  # a stream the backend does not have (or cannot read): nothing waits in it
        return 0
    return count


def _stream_name(arn: str) -> str:
    """ "shipments" for a Kinesis stream, "the stream of orders" for a DynamoDB table's."""
    resource = arn.split(":", 5)[-1]
    if resource.startswith("table/"):
        return f"the stream of {resource.split('/')[1]}"
    return resource.removeprefix("stream/")
