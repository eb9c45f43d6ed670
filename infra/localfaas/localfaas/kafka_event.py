"""The event Lambda sends a function for a batch of Kafka records (Amazon MSK or self-managed Kafka).

Shape, per the example events of "Using Lambda with Amazon MSK"
(https://docs.aws.amazon.com/lambda/latest/dg/with-msk.html) and "Using Lambda with self-managed
Apache Kafka" (https://docs.aws.amazon.com/lambda/latest/dg/with-kafka.html):

    {"eventSource": "aws:kafka", "eventSourceArn": "<cluster ARN>",     # MSK
     "bootstrapServers": "b-1...:9092,b-2...:9092",                     # one comma-separated string
     "records": {"<topic>-<partition>": [
         {"topic", "partition", "offset", "timestamp" (epoch ms), "timestampType",
          "key" (base64), "value" (base64), "headers": [{"<name>": [<signed byte>, ...]}, ...]}]}}

Self-managed Kafka has `"eventSource": "SelfManagedKafka"` and no `eventSourceArn`.
Header values are Java `byte[]`s serialised as JSON arrays, hence signed (-128..127); each header
is its own one-entry object, so repeated names and their order survive.

Null key or value: the key is optional in Powertools' models (absent when the record has none),
and Lambda leaves `value` out for a tombstone (powertools-lambda-typescript#5016, found on real
payloads), so both are omitted rather than sent as null. Not emulated: `keySchemaMetadata` and
`valueSchemaMetadata` (schema registry integration).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any, Literal

from localfaas.log import LogRecord

__all__ = ["EVENT_SOURCES", "decode_headers", "encode_headers", "kafka_event", "record_payload"]

EVENT_SOURCES = {"msk": "aws:kafka", "self-managed": "SelfManagedKafka"}
DEFAULT_BOOTSTRAP_SERVERS = "localhost:9092"


def _signed(byte: int) -> int:
    return byte - 256 if byte > 127 else byte


def encode_headers(headers: Iterable[tuple[str, bytes | None]]) -> list[dict[str, list[int] | None]]:
    """Kafka headers as Lambda sends them: one `{name: [signed bytes]}` object per header."""
    return [{name: None if value is None else [_signed(byte) for byte in value]} for name, value in headers]


def decode_headers(headers: Iterable[dict[str, list[int] | None]]) -> tuple[tuple[str, bytes | None], ...]:
    """The inverse of `encode_headers`; also accepts unsigned byte values (0..255)."""
    return tuple(
        (name, None if values is None else bytes(value & 0xFF for value in values))
        for header in headers
        for name, values in header.items()
    )


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def record_payload(record: LogRecord) -> dict[str, Any]:
    """One record of the event's `records` lists."""
    payload: dict[str, Any] = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp_ms,
        "timestampType": record.timestamp_type,
    }
    if record.key is not None:
        payload["key"] = _base64(record.key)
    if record.value is not None:
        payload["value"] = _base64(record.value)
    payload["headers"] = encode_headers(record.headers)
    return payload


def kafka_event(
    records: list[LogRecord],
    *,
    source: Literal["msk", "self-managed"],
    event_source_arn: str | None = None,
    bootstrap_servers: str | Iterable[str] = DEFAULT_BOOTSTRAP_SERVERS,
) -> dict[str, Any]:
    """The invocation event for `records`, grouped by topic-partition in the order given.

    `event_source_arn` (the MSK cluster's ARN) is required for "msk" and refused for
    "self-managed", whose events carry none."""
    if source not in EVENT_SOURCES:
        raise ValueError(f"source must be one of {sorted(EVENT_SOURCES)}, not {source!r}")
    if source == "msk" and not event_source_arn:
        raise ValueError("an Amazon MSK event needs event_source_arn (the cluster ARN)")
    if source == "self-managed" and event_source_arn:
        raise ValueError("a self-managed Kafka event has no eventSourceArn")
    if not isinstance(bootstrap_servers, str):
        bootstrap_servers = ",".join(bootstrap_servers)
    grouped: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        grouped.setdefault(f"{record.topic}-{record.partition}", []).append(record_payload(record))
    event: dict[str, Any] = {"eventSource": EVENT_SOURCES[source]}
    if event_source_arn:
        event["eventSourceArn"] = event_source_arn
    event["bootstrapServers"] = bootstrap_servers
    event["records"] = grouped
    return event
