"""On-failure destinations of a Kafka event source mapping: where Lambda puts records it gave up on.

Emulates the delivery half of "Capturing discarded batches for Amazon MSK and self-managed Apache
Kafka event sources" (https://docs.aws.amazon.com/lambda/latest/dg/kafka-on-failure.html) and "Using
a Kafka topic as an on-failure destination"
(https://docs.aws.amazon.com/lambda/latest/dg/kafka-on-failure-destination.html):

- an SQS queue gets the invocation record as a message body (SendMessage);
- an SNS topic gets it as a message (Publish);
- an S3 bucket gets it as an object (PutObject), under the key layout AWS documents for stream
  destinations, ``aws/lambda/<ESM-UUID>/<shardID>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<Random UUID>``, with
  ``<topic>-<partition>`` in the place of the shard id (AWS documents no Kafka-specific layout);
- ``kafka://<topic>`` produces to that topic of the same cluster (the mapping's log), keyed with the
  failed record's own key so it lands in the partition Kafka's partitioner picks for that key.

It also builds the invocation records AWS documents for them: `failed_batch_record` (SQS, SNS, S3)
and `failed_record_message` (Kafka); esm.py decides when records are given up on. Clients are made
lazily by an injected factory, so the backend decides whether they point at moto, LocalStack or AWS.
Not emulated: IAM and KMS permission checks, SNS's 256 KB message cap, cross-account delivery.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localfaas.log import Log, LogRecord
    from localfaas.runtime import InvocationResult

KAFKA_PREFIX = "kafka://"

# requestContext.condition. AWS's pages spell the first "RetryAttemptsExhausted" (SQS/SNS/S3) and
# "RetriesExhausted" (Kafka topic); localfaas uses the former everywhere.
RETRIES_EXHAUSTED = "RetryAttemptsExhausted"
RECORD_AGE_EXCEEDED = "RecordAgeExceeded"
PAYLOAD_SIZE_EXCEEDED = "MaximumPayloadSizeExceeded"

# (service name, region name or None) -> a boto3 client for that service.
ClientsFactory = Callable[[str, "str | None"], Any]


class DestinationError(Exception):
    """A failed-record document could not be delivered; the caller keeps the records and tries again."""


@dataclass(frozen=True)
class Destination:
    """A parsed on-failure destination: an SQS, SNS or S3 ARN, or a ``kafka://topic`` URI."""

    kind: str  # "sqs" | "sns" | "s3" | "kafka"
    name: str  # queue name, topic ARN, bucket name or Kafka topic
    region: str | None
    account: str | None
    uri: str

    @property
    def carries_payload(self) -> bool:
        """Only S3 and Kafka destinations receive the records themselves, not just their offsets."""
        return self.kind in ("s3", "kafka")


def parse_destination(uri: str) -> Destination:
    """Parse ``arn:<partition>:sqs|sns|s3:...`` or ``kafka://topic``; ValueError for anything else."""
    if uri.startswith(KAFKA_PREFIX):
        topic = uri[len(KAFKA_PREFIX) :]
        if not topic:
            raise ValueError(f"'{uri}' names no Kafka topic")
        return Destination("kafka", topic, None, None, uri)
    parts = uri.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] not in ("sqs", "sns", "s3"):
        raise ValueError(f"'{uri}' is not an SQS queue, SNS topic or S3 bucket ARN, nor a kafka:// topic")
    _, _, service, region, account, resource = parts
    if service == "sns":
        resource = uri  # SNS addresses topics by their ARN
    return Destination(service, resource, region or None, account or None, uri)


def s3_object_key(esm_uuid: str, topic_partition: str, when: float) -> str:
    """The object key of one failed batch: AWS's stream layout with ``<topic>-<partition>`` as shard id."""
    moment = dt.datetime.fromtimestamp(when, tz=dt.UTC)
    return (
        f"aws/lambda/{esm_uuid}/{topic_partition}/{moment:%Y/%m/%d}/{moment:%Y-%m-%dT%H.%M.%S}-{uuid.uuid4()}"
    )


@dataclass(frozen=True)
class Failure:
    """Why records were given up on: the requestContext and responseContext of the invocation record."""

    condition: str
    function_arn: str
    approximate_invoke_count: int
    result: InvocationResult | None  # the last invocation; None if the records were never invoked
    at: float  # epoch seconds

    def context(self) -> dict[str, Any]:
        """requestContext, responseContext (null when never invoked), version and timestamp."""
        response: dict[str, Any] | None = None
        if self.result is not None:
            response = {"statusCode": 200, "executedVersion": "$LATEST"}
            if not self.result.ok:
                response["functionError"] = "Unhandled"
        return {
            "requestContext": {
                "requestId": self.result.request_id if self.result else str(uuid.uuid4()),
                "functionArn": self.function_arn,
                "condition": self.condition,
                "approximateInvokeCount": self.approximate_invoke_count,
            },
            "responseContext": response,
            "version": "1.0",
            "timestamp": iso_timestamp(self.at * 1000),
        }


def failed_batch_record(
    failure: Failure, records: list[LogRecord], event: dict[str, Any], with_payload: bool
) -> dict[str, Any]:
    """The SQS/SNS/S3 invocation record of "Capturing discarded batches": offsets and timestamps of one
    partition's failed records under "<topic>-<partition>"; for S3 (`with_payload`) also the whole
    `event` as an escaped JSON string in `payload`."""
    first, last = records[0], records[-1]
    info = _batch_info(len(records), event)
    info["recordsInfo"] = {
        f"{first.topic}-{first.partition}": {
            "firstRecordOffset": str(first.offset),
            "lastRecordOffset": str(last.offset),
            "firstRecordTimestamp": iso_timestamp(first.timestamp_ms),
            "lastRecordTimestamp": iso_timestamp(last.timestamp_ms),
        }
    }
    document = {**failure.context(), "KafkaBatchInfo": info}
    if with_payload:
        document["payload"] = json.dumps(event)
    return document


def failed_record_message(failure: Failure, record: LogRecord, event: dict[str, Any]) -> dict[str, Any]:
    """The message of "Using a Kafka topic as an on-failure destination": one record's metadata
    (`recordInfo`) and the one-record `event` itself in `payload`."""
    info = _batch_info(1, event)
    info["recordInfo"] = {"offset": str(record.offset), "timestamp": iso_timestamp(record.timestamp_ms)}
    return {**failure.context(), "KafkaBatchInfo": info, "payload": event}


def _batch_info(size: int, event: dict[str, Any]) -> dict[str, Any]:
    info: dict[str, Any] = {"batchSize": size}
    if "eventSourceArn" in event:  # MSK only: self-managed Kafka has no ARN
        info["eventSourceArn"] = event["eventSourceArn"]
    info["bootstrapServers"] = event.get("bootstrapServers")
    info["payloadSize"] = len(json.dumps(event).encode())
    return info


def iso_timestamp(epoch_ms: float) -> str:
    """ISO 8601 in UTC with milliseconds, as in AWS's examples: 2019-11-14T18:16:05.568Z."""
    moment = dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Destinations:
    """Sends failed-record documents to on-failure destinations, making each client on first use."""

    def __init__(
        self,
        clients_factory: ClientsFactory,
        *,
        log: Log | None = None,
        on_sent: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self._factory = clients_factory
        self._log = log
        self._on_sent = on_sent  # told of each document delivered: the report counts what is parked
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._queue_urls: dict[str, str] = {}

    def send(
        self,
        destination: str,
        record: dict[str, Any],
        *,
        key: bytes | None = None,
        object_key: str | None = None,
    ) -> None:
        """Deliver one document. `key` is the Kafka key (kafka:// only); `object_key` is required for S3."""
        target = parse_destination(destination)
        body = json.dumps(record)
        try:
            if target.kind == "kafka":
                self._produce(target, body, key)
            elif target.kind == "sqs":
                self._client(target).send_message(QueueUrl=self._queue_url(target), MessageBody=body)
            elif target.kind == "sns":
                self._client(target).publish(TopicArn=target.name, Message=body)
            else:
                if object_key is None:
                    raise DestinationError(f"an S3 destination needs an object key: {destination}")
                self._client(target).put_object(Bucket=target.name, Key=object_key, Body=body.encode())
        except DestinationError:
            raise
        except Exception as exc:  # botocore's errors and the log's: all mean "not delivered, try again"
            raise DestinationError(f"could not deliver to {destination}: {exc}") from exc
        if self._on_sent is not None:
            self._on_sent(destination, record)

    def _client(self, target: Destination) -> Any:
        slot = (target.kind, target.region)
        if slot not in self._clients:
            self._clients[slot] = self._factory(target.kind, target.region)
        return self._clients[slot]

    def _queue_url(self, target: Destination) -> str:
        if target.uri not in self._queue_urls:
            kwargs = {"QueueName": target.name}
            if target.account:
                kwargs["QueueOwnerAWSAccountId"] = target.account
            self._queue_urls[target.uri] = self._client(target).get_queue_url(**kwargs)["QueueUrl"]
        return self._queue_urls[target.uri]

    def _produce(self, target: Destination, body: str, key: bytes | None) -> None:
        if self._log is None:
            raise DestinationError(f"no Kafka log to produce {target.uri} to")
        # AWS: "The destination topic must exist in the same Kafka cluster as your source topics."
        if target.name not in self._log.topics():
            raise DestinationError(f"UNKNOWN_TOPIC_OR_PARTITION: topic '{target.name}' does not exist")
        self._log.produce(target.name, body.encode(), key=key)


def boto3_clients(**client_kwargs: Any) -> ClientsFactory:
    """A factory of plain boto3 clients; `client_kwargs` (endpoint_url, credentials) go to each client."""

    def make(service: str, region: str | None) -> Any:
        import boto3

        kwargs = dict(client_kwargs)
        if region:
            kwargs["region_name"] = region
        return boto3.client(service, **kwargs)

    return make
