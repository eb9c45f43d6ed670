"""Build the events Lambda sends for Amazon MSK records, from storefront events or raw bytes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from localfaas.kafka_event import kafka_event
from localfaas.log import LogRecord
from storefront.events import DomainEvent

CLUSTER_ARN = "arn:aws:kafka:us-east-1:123456789012:cluster/storefront/a1b2c3d4-5678-90ab-cdef-11111EXAMPLE-1"
BOOTSTRAP_SERVERS = (
    "b-1.storefront.a1b2c3.c2.kafka.us-east-1.amazonaws.com:9098,"
    "b-2.storefront.a1b2c3.c2.kafka.us-east-1.amazonaws.com:9098"
)
_offsets = itertools.count(100)


def record(
    topic: str,
    value: DomainEvent | bytes,
    *,
    key: str | None = None,
    partition: int = 0,
    headers: tuple[tuple[str, bytes], ...] = (("content-type", b"application/json"),),
) -> LogRecord:
    if isinstance(value, DomainEvent):
        key = key or value.aggregate_id
        payload = value.to_json().encode()
        timestamp = value.occurred_at
    else:
        payload, timestamp = value, datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    return LogRecord(
        topic=topic,
        partition=partition,
        offset=next(_offsets),
        timestamp_ms=int(timestamp.timestamp() * 1000),
        key=key.encode() if key else None,
        value=payload,
        headers=headers,
    )


def msk_event(*records: LogRecord) -> dict:
    return kafka_event(
        list(records), source="msk", event_source_arn=CLUSTER_ARN, bootstrap_servers=BOOTSTRAP_SERVERS
    )


def failed_offsets(response: dict) -> list[int]:
    return sorted(f["itemIdentifier"]["offset"] for f in response.get("batchItemFailures", []))
