"""Every business effect of a run, read back from the stores, in a form two runs can be compared by.

A run's effects are what its customers and staff would see: items in each DynamoDB table (by key),
emails sent, messages published per SNS topic, messages waiting per SQS queue (the fulfilment
requests by body), objects per S3 bucket (by key), the records an archive holds (by Kafka
coordinates or bus event id, each once: storefront.audit lets a batch retried with other bounds
archive a record again in another object, and readers drop such duplicates) and the read model's
rows (by table, without the bookkeeping of which offsets were applied, which differs when records
are delivered again). Lambda's
own bookkeeping is left out: on-failure destinations, whose invocation records carry request ids
and timestamps.
"""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

# Tables that hold how a reaction ran rather than what it did (none since the reactions' own
# conditional writes are their idempotency).
BOOKKEEPING_TABLES: set[str] = set()
BOOKKEEPING_QUEUES = {"FailedRecordsQueue", "FailedEventsQueue", "FulfilmentRequestsDeadLetterQueue"}
READ_MODEL_BOOKKEEPING = {"applied_offsets"}


def read_effects(
    resources: dict[str, dict[str, Any]],
    physical_names: dict[str, str],
    client: Callable[[str], Any],
    *,
    moto_endpoint: str,
    read_model_url: str | None = None,
) -> dict[str, Any]:
    """{store: {resource: what it holds}} for the template's tables, queues, topics and buckets."""
    effects: dict[str, Any] = {
        "dynamodb": {},
        "sqs": {},
        "sns": {},
        "s3": {},
        "s3_lines": {},
        "s3_bus_lines": {},
        "s3_records": {},
    }
    published = _published(moto_endpoint)
    for logical_id, resource in sorted(resources.items()):
        kind, name = resource.get("Type"), physical_names.get(logical_id)
        if kind == "AWS::DynamoDB::Table" and logical_id not in BOOKKEEPING_TABLES:
            effects["dynamodb"][logical_id] = _item_keys(client("dynamodb"), name)
        elif kind == "AWS::SQS::Queue" and logical_id not in BOOKKEEPING_QUEUES:
            effects["sqs"][logical_id] = _message_bodies(client("sqs"), name)
        elif kind == "AWS::SNS::Topic":
            effects["sns"][logical_id] = published.get(name, 0)
        elif kind == "AWS::S3::Bucket":
            effects["s3"][logical_id] = _object_keys(client("s3"), name)
            lines = _lines(client("s3"), name)
            records = [_archived_record(line) for line in lines]
            effects["s3_lines"][logical_id] = len(lines)
            effects["s3_bus_lines"][logical_id] = sum(record.startswith("bus ") for record in records)
            effects["s3_records"][logical_id] = Counter(set(records))
    effects["ses"] = int(client("ses").get_send_quota()["SentLast24Hours"])
    if read_model_url:
        effects["read_model"] = _read_model_rows(read_model_url)
    return effects


def differences(
    expected: dict[str, Any], actual: dict[str, Any], *, ignore: set[str] = frozenset()
) -> list[str]:
    """One line per store and resource whose effects differ; empty when the runs agree. `ignore`
    names stores not to compare (S3 keys name Kafka offsets, which differ when the log does)."""
    lines = []
    for store in sorted((set(expected) | set(actual)) - ignore):
        want, got = expected.get(store), actual.get(store)
        if isinstance(want, dict) and isinstance(got, dict):
            for name in sorted(set(want) | set(got)):
                if want.get(name) != got.get(name):
                    lines.append(f"{store} {name}: {_describe(want.get(name), got.get(name))}")
        elif want != got:
            lines.append(f"{store}: {_describe(want, got)}")
    return lines


def counts(effects: dict[str, Any]) -> dict[str, int]:
    """How many effects each store holds, for printing a run's figures."""
    figures = {"ses emails": effects["ses"]}
    figures.update({f"s3 lines {name}": n for name, n in effects["s3_lines"].items()})
    figures.update({f"s3 records {name}": len(held) for name, held in effects["s3_records"].items()})
    for store in ("dynamodb", "sqs", "s3", "read_model"):
        for name, held in effects.get(store, {}).items():
            figures[f"{store} {name}"] = sum(held.values()) if isinstance(held, Counter) else len(held)
    figures.update({f"sns {name}": n for name, n in effects["sns"].items()})
    return figures


def bus_events(effects: dict[str, Any]) -> set[str]:
    """The bus events the audit archive holds, by the event's own id. Not by object: AuditLog takes
    them in batches of the audit queue's messages, one object per batch, source and hour, so how
    they are grouped into objects depends on how the batches were cut, and a message delivered
    again (a retried batch, a second copy of an announcement) is archived again in another object."""
    return {record for record in effects["s3_records"]["AuditArchiveBucket"] if record.startswith("bus ")}


def kafka_lines(effects: dict[str, Any]) -> int:
    """The audit archive's lines of Kafka records: the log's copy, each record once (a retried
    Kafka batch has the same bounds, so the same object keys, and overwrites)."""
    return effects["s3_lines"]["AuditArchiveBucket"] - effects["s3_bus_lines"]["AuditArchiveBucket"]


def _describe(want: Any, got: Any) -> str:
    if isinstance(want, Counter) and isinstance(got, Counter):
        extra, missing = got - want, want - got
        return (
            f"{sum(want.values())} expected, {sum(got.values())} found; "
            f"{sum(extra.values())} extra, {sum(missing.values())} missing"
            + (f" (e.g. extra {next(iter(extra))!r})" if extra else "")
            + (f" (e.g. missing {next(iter(missing))!r})" if missing else "")
        )
    return f"{want!r} expected, {got!r} found"


def _item_keys(dynamodb: Any, table: str) -> Counter:
    key_names = [k["AttributeName"] for k in dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]]
    keys: Counter = Counter()
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            keys[tuple(json.dumps(item[k], sort_keys=True) for k in key_names)] += 1
    return keys


def _message_bodies(sqs: Any, queue: str) -> Counter:
    """Every message waiting, by body, read without deleting (visibility 0 s would return the same
    messages again, so each receive hides what it got until the end of the read)."""
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    bodies: Counter = Counter()
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
            "Messages", []
        )
        if not got:
            break
        bodies.update(_canonical(m["Body"]) for m in got)
    return bodies


def _canonical(body: str) -> str:
    """The body without the wall-clock stamps a sender adds ("requestedAt"), which differ between runs."""
    try:
        message = json.loads(body)
    except ValueError:
        return body
    if isinstance(message, dict):
        message = {k: v for k, v in message.items() if not k.endswith("At")}
    return json.dumps(message, sort_keys=True)


def _object_keys(s3: Any, bucket: str) -> Counter:
    keys: Counter = Counter()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys.update(obj["Key"] for obj in page.get("Contents", []))
    return keys


def _lines(s3: Any, bucket: str) -> list[bytes]:
    """JSON lines in the bucket's objects: records archived, however they are grouped into objects."""
    lines: list[bytes] = []
    for key in _object_keys(s3, bucket):
        lines.extend(s3.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines())
    return lines


def _archived_record(line: bytes) -> str:
    """Which record or event an archive line holds: its Kafka coordinates, else its bus event id."""
    try:
        body = json.loads(line)
    except ValueError:
        return f"unreadable {line[:60]!r}"
    if not isinstance(body, dict):
        return f"not an archive line {line[:60]!r}"
    if "topic" in body:
        return f"{body['topic']}-{body.get('partition')}@{body.get('offset')}"
    # By the event's own id, as the archive keys it: each run draws its own envelope ids.
    return f"bus {(body.get('event') or {}).get('eventId')}"


def _published(endpoint: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=60) as response:
        topics = json.load(response).get("sns", {}).get("Topic", [])
    return {t["arn"].rsplit(":", 1)[-1]: len(t.get("sent_notifications") or []) for t in topics}


def _read_model_rows(url: str) -> dict[str, Counter]:
    engine = sa.create_engine(url)
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        rows = {}
        with engine.connect() as connection:
            for name, table in sorted(metadata.tables.items()):
                if name in READ_MODEL_BOOKKEEPING:
                    continue
                rows[name] = Counter(
                    json.dumps(list(row), default=str) for row in connection.execute(sa.select(table))
                )
        return rows
    finally:
        engine.dispose()
