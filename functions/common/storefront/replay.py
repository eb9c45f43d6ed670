"""Replay: rebuild the SQL read model from the event log, as of any time. Event sourcing's promise.

The input is one iterable of records per partition, each in offset order (where they come from,
the embedded log, Kafka or the audit archive, is `storefront.replay_sources`'s business). They are
merged by event time, the record's timestamp (Kafka's CreateTime: when the producer says the
event happened), ties broken by topic, partition and offset, so the same input always gives the
same order and the same tables. The merge only ever takes the head of a partition, so records of
one partition (one key's events) keep their offset order even where timestamps go backwards.

"As of TIME" keeps, of each partition, the records up to its first record later than TIME (what a
consumer positioned with Kafka's offsets-for-times would stop at), and applies them with the
very projector ProjectSql uses.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from sqlalchemy import Engine, func, select

from storefront.read_model import SourceRecord, SqlReadModel, UnprojectableRecord
from storefront.read_model.compare import TableDifference, compare
from storefront.read_model.database import make_engine
from storefront.read_model.schema import TABLES

# Records per transaction. Each chunk's rows are loaded in a few queries and its changes written
# with one executemany per table, and a row made and changed within a chunk is written once, so
# bigger chunks cost less, up to about 10,000 (100,000 events on SQLite: 51 µs an event in chunks
# of 5,000, 48-50 in 10,000 and in 20,000; 75 in the 500 of before, at 20,000 events).
CHUNK = 10_000


def merge_by_time(partitions: Iterable[Iterable[SourceRecord]]) -> Iterator[SourceRecord]:
    """One stream of the partitions' records, earliest first; never reorders within a partition."""
    return heapq.merge(*partitions, key=lambda r: (r.timestamp_ms, r.topic, r.partition, r.offset))


def up_to(records: Iterable[SourceRecord], until: datetime) -> Iterator[SourceRecord]:
    """The partition's records before its first record later than `until`."""
    until_ms = to_ms(until)
    return itertools.takewhile(lambda r: r.timestamp_ms <= until_ms, records)


def _batched(records: Iterator[SourceRecord], size: int) -> Iterator[list[SourceRecord]]:
    while chunk := list(itertools.islice(records, size)):  # itertools.batched is Python 3.12
        yield chunk


def to_ms(moment: datetime) -> int:
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return int(moment.timestamp() * 1000)


@dataclass
class ReplayReport:
    until: datetime
    applied: int = 0
    redelivered: int = 0
    skipped: list[UnprojectableRecord] = field(default_factory=list)

    @property
    def records(self) -> int:
        return self.applied + self.redelivered + len(self.skipped)


def replay(
    partitions: Iterable[Iterable[SourceRecord]],
    model: SqlReadModel,
    until: datetime,
    *,
    skip_bad: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ReplayReport:
    """Apply every partition's records up to `until`, merged by event time, to `model`.

    A record that cannot be applied stops the replay (UnprojectableRecord, after committing what
    came before it) unless `skip_bad`, which skips it and lists it in the report.
    """
    report = ReplayReport(until=until)
    stream = merge_by_time(up_to(records, until) for records in partitions)
    analyzed_at = 0  # records applied when the planner's statistics were last refreshed
    for chunk in _batched(stream, CHUNK):
        with _collector_paused():
            applied = model.apply(chunk, on_bad=(lambda _: None) if skip_bad else None)
        report.applied += applied.applied
        report.redelivered += applied.redelivered
        report.skipped += applied.skipped
        # Each time the replay has doubled what it wrote: a few ANALYZEs over a whole replay.
        if report.applied >= 2 * analyzed_at and report.applied >= CHUNK:
            model.refresh_statistics()
            analyzed_at = report.applied
        if progress is not None:
            progress(len(chunk))
    return report


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off while a chunk is applied. The chunk's remembered rows live until
    its end, so the collector promoted them to the oldest generation and then ran full collections
    over every live object, the caller's records included: 10 to 18 µs an event of a
    100,000-event replay, growing with the log. What a chunk makes is freed by reference counting;
    the collector, back on after it, still finds any cycle."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def verify(
    partitions: Iterable[Iterable[SourceRecord]],
    live: Engine,
    scratch: SqlReadModel,
    *,
    skip_bad: bool = False,
    progress: Callable[[int], None] | None = None,
) -> tuple[ReplayReport, list[TableDifference]]:
    """Replay everything up to now into `scratch` (empty) and compare it with the live read model."""
    report = replay(partitions, scratch, datetime.now(UTC), skip_bad=skip_bad, progress=progress)
    return report, compare(scratch.engine, live)


class ProgressBar:
    """A one-line progress bar on a terminal (stderr by default); silent when `enabled` is False."""

    WIDTH = 30

    def __init__(
        self, total: int | None, *, stream: TextIO | None = None, enabled: bool | None = None
    ) -> None:
        self.total, self.done = total, 0
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled

    def __call__(self, advanced: int) -> None:
        self.done += advanced
        if not self.enabled:
            return
        if self.total:
            filled = min(self.WIDTH, self.WIDTH * self.done // self.total)
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            self.stream.write(f"\rreplaying [{bar}] {self.done}/{self.total} records")
        else:
            self.stream.write(f"\rreplaying {self.done} records")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.done:
            self.stream.write("\n")
            self.stream.flush()


# --- what changed between two read models -------------------------------------------------------

EXAMPLES = 5


def describe_difference(
    earlier: Engine | str, later: Engine | str, *, out: TextIO | None = None
) -> list[str]:
    """Print, in business terms, what the `later` read model has that the `earlier` one has not yet
    (for example a replay to midday against the end of the day); returns the lines printed."""
    a, b = _business_state(earlier), _business_state(later)
    lines = [f"From {_as_of(a)} to {_as_of(b)}:"]
    for label, keys in _changes(a, b):
        if keys:
            examples = sorted(set(keys))  # attempts are shown by account: several may share one
            more = f" (+{len(examples) - EXAMPLES} more)" if len(examples) > EXAMPLES else ""
            lines.append(f"  {len(keys)} {label}: {', '.join(examples[:EXAMPLES])}{more}")
    if len(lines) == 1:
        lines.append("  nothing: the two read models hold the same business state")
    print("\n".join(lines), file=out or sys.stdout)
    return lines


def _changes(a: dict, b: dict) -> list[tuple[str, list[str]]]:
    def keys(table: str, now: Callable[[dict], bool], before: Callable[[dict | None], bool]) -> list[str]:
        return sorted(k for k, row in b[table].items() if now(row) and not before(a[table].get(k)))

    def status(value: str) -> Callable[[dict | None], bool]:
        return lambda row: row is not None and row["status"] == value

    def paid(row: dict | None) -> bool:
        return row is not None and row["payment_id"] is not None

    def low(row: dict | None) -> bool:
        return row is not None and row["below_reorder_point"]

    return [
        (
            "accounts not yet requested",
            keys("customers", lambda r: r["opened_by_event_id"] is not None, bool),
        ),
        ("accounts not yet locked", keys("customers", status("LOCKED"), status("LOCKED"))),
        (
            "denied access attempts not yet made, on",
            [b["security_incidents"][k]["customer_id"] for k in keys("security_incidents", bool, bool)],
        ),
        ("orders not yet paid", keys("orders", paid, paid)),
        ("orders not yet delivered", keys("orders", status("DELIVERED"), status("DELIVERED"))),
        ("sales tickets not yet closed", keys("sales_tickets", status("CLOSED"), status("CLOSED"))),
        ("supply orders not yet placed", keys("supply_orders", bool, bool)),
        ("supply orders not yet received", keys("supply_orders", status("RECEIVED"), status("RECEIVED"))),
        ("stock levels not yet below their reorder point", keys("inventory_levels", low, low)),
    ]


def _business_state(database: Engine | str) -> dict[str, Any]:
    engine = make_engine(database) if isinstance(database, str) else database
    state: dict[str, Any] = {}
    with engine.connect() as connection:
        for name, table in TABLES.items():
            key_columns = [c.name for c in table.primary_key.columns]
            rows = connection.execute(select(table)).mappings()
            state[name] = {"/".join(str(row[c]) for c in key_columns): dict(row) for row in rows}
        state["as_of"] = connection.scalar(select(func.max(TABLES["applied_offsets"].c.event_time)))
    return state


def _as_of(state: dict[str, Any]) -> str:
    moment = state["as_of"]
    return f"the last event at {moment:%Y-%m-%d %H:%M:%S} UTC" if moment else "an empty read model"
