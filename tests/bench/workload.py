"""Realistic storefront records, as many as a benchmark needs, made from the business-day scenario.

The scenario (events/scenarios/business-day.json) is one seeded day of sign-ups, logins, denied
attempts, stock counts, payments and arrivals: real values of 200 to 550 bytes. A benchmark that
needs more records than a day holds gets further days: each round is the same day moved on by
`round` days, with fresh event ids and every aggregate id (customer, sku, order, payment,
shipment) suffixed with the round, so no round redelivers or collides with another: the handlers
do the work of new events, not of duplicates. Malformed records are left out.
"""

from __future__ import annotations

import functools
import itertools
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from localfaas.embedded_log import default_partition
from localfaas.kafka_event import record_payload
from localfaas.log import LogRecord
from localfaas.pattern import matches_filter_criteria
from tests.support.stack import EVENTS

SCENARIO = EVENTS / "scenarios" / "business-day.json"
# Top-level fields naming an aggregate: rewritten per round so rounds are different customers, orders...
AGGREGATE_FIELDS = ("customerId", "sku", "orderId", "paymentId", "shipmentId")


@functools.cache
def scenario() -> dict[str, Any]:
    return json.loads(SCENARIO.read_text())


def _valid_records(topics: Iterable[str] | None) -> list[dict[str, Any]]:
    wanted = None if topics is None else set(topics)
    return [
        r
        for r in scenario()["records"]
        if isinstance(r.get("value"), dict) and (wanted is None or r["topic"] in wanted)
    ]


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _text(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _in_round(value: dict[str, Any], round_: int) -> dict[str, Any]:
    if round_ == 0:
        return value
    moved = dict(value)
    moved["eventId"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench:{value['eventId']}:{round_}"))
    moved["occurredAt"] = _text(_when(value["occurredAt"]) + timedelta(days=round_))
    for name in AGGREGATE_FIELDS:
        if isinstance(moved.get(name), str):
            moved[name] = f"{moved[name]}-R{round_}"
    return moved


def _log_record(
    source: dict[str, Any], round_: int, offsets: dict[tuple[str, int], int], partitions: int
) -> LogRecord:
    value = _in_round(source["value"], round_)
    key = source["key"] if round_ == 0 else f"{source['key']}-R{round_}"  # the aggregate id, as rewritten
    partition = default_partition(key.encode(), partitions)
    offset = offsets[(source["topic"], partition)]
    offsets[(source["topic"], partition)] += 1
    return LogRecord(
        topic=source["topic"],
        partition=partition,
        offset=offset,
        timestamp_ms=int(_when(value["occurredAt"]).timestamp() * 1000),
        key=key.encode(),
        value=json.dumps(value, separators=(",", ":")).encode(),
        headers=tuple((k, v.encode()) for k, v in (source.get("headers") or {}).items()),
    )


def records(
    count: int, *, topics: Iterable[str] | None = None, filters: tuple[dict, ...] = ()
) -> list[LogRecord]:
    """`count` valid records of `topics` (all topics when None) that pass the mapping's `filters`."""
    return list(itertools.islice(stream(topics=topics, filters=filters), count))


def stream(*, topics: Iterable[str] | None = None, filters: tuple[dict, ...] = ()) -> Iterator[LogRecord]:
    """Business days without end, in time order within each day, as records with Kafka coordinates."""
    base = _valid_records(topics)
    partitions = {name: spec["partitions"] for name, spec in scenario()["topics"].items()}
    offsets: dict[tuple[str, int], int] = defaultdict(int)
    if filters:
        probe: dict[tuple[str, int], int] = defaultdict(int)
        base = [
            r
            for r in base
            if matches_filter_criteria(
                list(filters), record_payload(_log_record(r, 0, probe, partitions[r["topic"]]))
            )
        ]
    if not base:
        raise ValueError(f"the scenario has no valid records for topics {topics} and filters {filters}")
    for round_ in itertools.count():
        for source in base:
            yield _log_record(source, round_, offsets, partitions[source["topic"]])


def mean_value_bytes(sample: Iterable[LogRecord]) -> float:
    sizes = [len(r.value or b"") for r in sample]
    return sum(sizes) / len(sizes) if sizes else 0.0
