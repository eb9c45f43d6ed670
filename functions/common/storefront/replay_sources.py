"""Where `storefront replay` reads records: a log (localfaas's embedded log, or a Kafka cluster
through localfaas's KafkaLog), or the audit archive that AuditLog writes to S3 (for events older
than the topics' retention), from a bucket or a local copy of it.

Each source gives one iterable per partition, in offset order, which is what `storefront.replay`
merges. localfaas and boto3 are imported only here, and only when that source is used.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from storefront.read_model import SourceRecord

STOREFRONT_TOPICS = ("customer-accounts", "inventory", "payments", "security", "shipments")
PAGE = 500


# --- logs ---------------------------------------------------------------------------------------


def open_log(source: str, *, log_dir: str | None = None, bootstrap_servers: str | None = None) -> Any:
    """A localfaas log: the embedded one in `log_dir`, or a Kafka cluster at `bootstrap_servers`."""
    if source == "embedded":
        from localfaas.embedded_log import EmbeddedLog

        if not log_dir or not Path(log_dir).is_dir():
            raise SourceError(f"--log-dir {log_dir!r} is not a directory holding an embedded log")
        return EmbeddedLog(Path(log_dir))
    if source == "kafka":
        from localfaas.kafka_log import KafkaLog, KafkaUnreachable

        if not bootstrap_servers:
            raise SourceError("--source kafka needs --bootstrap-servers")
        try:
            return KafkaLog(bootstrap_servers)
        except KafkaUnreachable as e:  # found within seconds, said in one line
            raise SourceError(str(e)) from None
    raise SourceError(f"unknown log source {source!r}")


class SourceError(ValueError):
    """The source named on the command line cannot be read."""


def log_partitions(log: Any, topics: Iterable[str]) -> list[Iterator[SourceRecord]]:
    """One reader per partition of each topic, from its beginning to its end (as it is now)."""
    return [
        _read_partition(log, topic, partition)
        for topic in topics
        if topic in set(log.topics())
        for partition in range(log.partitions(topic))
    ]


def log_record_count(log: Any, topics: Iterable[str]) -> int:
    """How many records the topics hold (for a progress bar's total)."""
    present = set(log.topics())
    return sum(
        log.end_offset(topic, p) - log.beginning_offset(topic, p)
        for topic in topics
        if topic in present
        for p in range(log.partitions(topic))
    )


def _read_partition(log: Any, topic: str, partition: int) -> Iterator[SourceRecord]:
    offset = log.beginning_offset(topic, partition)
    while page := log.read(topic, partition, offset, PAGE):
        for record in page:
            yield SourceRecord(
                record.topic, record.partition, record.offset, record.timestamp_ms, record.value
            )
        offset = page[-1].offset + 1


# --- the audit archive --------------------------------------------------------------------------
# AuditLog's layout (storefront.audit): topic=<topic>/date=YYYY-MM-DD/hour=HH/<partition>-<offset>-<digest>.jsonl,
# one line per record: its coordinates (topic, partition, offset, timestamp, ...) and `event`, the
# event with its secrets erased. Bus events live under bus=<source>/ and are not read: the read
# model is made of the topics' events only.


def archive_partitions(objects: Iterable[bytes], topics: Iterable[str]) -> list[list[SourceRecord]]:
    """The archived records of `topics`, one list per partition in offset order.

    An object may be gzip'd. A record archived twice (a batch retried with other bounds) appears
    once. The archive is read whole into memory: replays from it are rare and records small.
    """
    wanted = set(topics)
    partitions: dict[tuple[str, int], dict[int, SourceRecord]] = {}
    for data in objects:
        for line in _lines(data):
            record = archived_record(json.loads(line))
            if record is not None and record.topic in wanted:
                partitions.setdefault((record.topic, record.partition), {})[record.offset] = record
    return [[by_offset[o] for o in sorted(by_offset)] for _, by_offset in sorted(partitions.items())]


def archived_record(line: dict[str, Any]) -> SourceRecord | None:
    """The Kafka record an archive line stands for; None for a line that is not from a topic."""
    if line.get("topic") is None or line.get("offset") is None:
        return None
    event = line.get("event")
    return SourceRecord(
        topic=line["topic"],
        partition=int(line["partition"]),
        offset=int(line["offset"]),
        timestamp_ms=int(line["timestamp"]),
        value=json.dumps(event).encode() if isinstance(event, dict) else None,
    )


def directory_objects(directory: str, topics: Iterable[str]) -> Iterator[bytes]:
    """The topics' archive objects in a local copy of the bucket (e.g. from `aws s3 sync`)."""
    root = Path(directory)
    if not root.is_dir():
        raise SourceError(f"--archive-dir {directory!r} is not a directory")
    for topic in topics:
        for path in sorted((root / f"topic={topic}").rglob("*.jsonl*")):
            yield path.read_bytes()


def bucket_objects(bucket: str, topics: Iterable[str], client: Any = None) -> Iterator[bytes]:
    """The topics' archive objects in an S3 bucket."""
    if client is None:
        import boto3

        client = boto3.client("s3")
    paginator = client.get_paginator("list_objects_v2")
    for topic in topics:
        for page in paginator.paginate(Bucket=bucket, Prefix=f"topic={topic}/"):
            for item in page.get("Contents", []):
                yield client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()


def _lines(data: bytes) -> Iterator[str]:
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    for line in data.decode().splitlines():
        if line.strip():
            yield line
