"""Replay: rebuilding the SQL read model from the event log, against a bare bulk insert of its rows.

The log is business days of realistic records on all five topics (tests.bench.workload), grouped
into partitions as Kafka holds them. `storefront.replay.replay` (what `storefront replay` runs:
merge by event time, the projector, SqlReadModel in chunked transactions) rebuilds the read
model from empty; then the rows it built, every table's (applied_offsets included), are inserted
into another empty schema by a bare bulk insert (one executemany per table, one transaction): the
write limit for the same rows. Target: replay within 3x of the bulk insert.

Databases: a SQLite file, and PostgreSQL at 127.0.0.1:5432, database `test`, in schemas of
their own (bench_replay_<pid>, bench_bulk_<pid>: made anew each run, dropped at the end) so the
tables never meet another test's; the driver is psycopg 3.
"""

from __future__ import annotations

import contextlib
import os
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, insert, select, text

from tests.bench import workload
from tests.bench.harness import (
    Figure,
    Series,
    Sizes,
    Target,
    compared,
    failed,
    missed,
    pending,
    profile_top_frames,
    time_once,
)

NAME = "replay"
TARGET = Target.ratio_at_most(3)
BASELINE = "bare bulk insert of the rebuilt rows (one executemany per table, one transaction)"
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PROFILE_EVENTS = 20_000
END_OF_TIME = datetime(9999, 1, 1, tzinfo=UTC)
BOUNDS = {
    "sqlite": (
        "Replay reads each chunk's rows in one SELECT ... IN per table and writes its changes with "
        "one executemany per table (chunks of 10,000 events), so its writes are the bulk insert's "
        "plus one UPDATE per row changed in a later chunk than the one that made it. What it does "
        "beyond the bulk insert is per event, in Python (profile of 100,000 events): the writes "
        "29% of its time, the projector's decisions 27% (the reactions' own decision functions, "
        "which also build the announcement events the read model does not keep: about 8%), reading "
        "the event 19% (json.loads and pydantic validation, as the design asks of every record), "
        "the remembered rows' bookkeeping 12%, the chunk's reads 4%. 1,000,000 events: 50 µs an "
        "event, 2.4x (before: 873 µs, 34x, a statement per read and per write through SQLAlchemy, "
        "and applied_offsets scanned per chunk by a row-value IN). With every event parsed and "
        "decided, the floor is about 2x."
    ),
    "postgresql": (
        "The same work as on SQLite, in a few round trips per chunk of 10,000 events (one per table "
        "read, the writes pipelined by psycopg's executemany and SQLAlchemy's insertmanyvalues), "
        "against a bulk insert that costs about twice SQLite's per row, and an ANALYZE each time the "
        "replay has doubled what it wrote: planned on the statistics of empty tables, PostgreSQL read "
        "whole tables by sequential scans for every chunk (1,000,000 events: 544 µs an event, 15.8x). "
        "1,000,000 events: 67 µs an event, 2.0x (before this round: 951 µs, 19x, a round trip per "
        "read and per write). The rest is the parsing and deciding per event described for SQLite."
    ),
}


def _api() -> tuple[Any, Any, Any] | None:
    try:
        from storefront.read_model import SourceRecord, SqlReadModel
        from storefront.replay import replay
    except ImportError:
        return None
    return replay, SqlReadModel, SourceRecord


def partitions(events: int, source_record: Callable[..., Any]) -> list[list[Any]]:
    """`events` records of all topics, one list per topic-partition, each in offset order."""
    grouped: dict[tuple[str, int], list[Any]] = defaultdict(list)
    for r in workload.records(events):
        grouped[(r.topic, r.partition)].append(
            source_record(r.topic, r.partition, r.offset, r.timestamp_ms, r.value)
        )
    return list(grouped.values())


class Database:
    """An empty place for a read model, made anew by `fresh()`: a SQLite file or a PostgreSQL schema."""

    def __init__(self, kind: str, name: str, workdir: Path) -> None:
        self.kind, self.name, self.workdir = kind, name, workdir
        self.engine: Engine | None = None

    def fresh(self) -> Engine:
        self.dispose()
        if self.kind == "sqlite":
            path = self.workdir / f"{self.name}.sqlite3"
            path.unlink(missing_ok=True)
            self.engine = create_engine(f"sqlite:///{path}")
        else:
            base = create_engine(POSTGRES_URL)
            with base.begin() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE'))
                connection.execute(text(f'CREATE SCHEMA "{self.name}"'))
            self.engine = base.execution_options(schema_translate_map={None: self.name})
        return self.engine

    def version(self) -> str:
        assert self.engine is not None
        with self.engine.connect() as connection:
            if self.kind == "sqlite":
                return "SQLite " + connection.scalar(text("select sqlite_version()"))
            return connection.scalar(text("select version()")).split(" on ")[0]

    def dispose(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None

    def drop(self) -> None:
        self.dispose()
        if self.kind == "postgresql":
            base = create_engine(POSTGRES_URL)
            with base.begin() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE'))
            base.dispose()


def bulk_insert(engine: Engine, rows: dict[str, list[dict[str, Any]]]) -> None:
    """The write limit: every table's rows in one executemany each, in one transaction."""
    from storefront.read_model import TABLES

    with engine.begin() as connection:
        for name, table in TABLES.items():
            if rows[name]:
                connection.execute(insert(table), rows[name])


def rows_of(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    from storefront.read_model import TABLES

    with engine.connect() as connection:
        return {
            name: [dict(row) for row in connection.execute(select(table)).mappings()]
            for name, table in TABLES.items()
        }


def measure(kind: str, sizes: Sizes, workdir: Path) -> Figure:
    replay, sql_read_model, source_record = _api()
    parts = partitions(sizes.replay_events, source_record)
    # Schemas named after this process: two runs at once (a smoke test beside `make bench`) never meet.
    rebuilt = Database(kind, f"bench_replay_{os.getpid()}", workdir)
    bulk = Database(kind, f"bench_bulk_{os.getpid()}", workdir)
    replay_ns, bulk_ns, report = [], [], None
    built: dict[str, list[dict[str, Any]]] = {}  # the rows a replay built: what the bulk insert writes
    try:
        for round_ in range(sizes.replay_runs):
            model = sql_read_model(rebuilt.fresh())
            model.create_schema()
            sql_read_model(bulk.fresh()).create_schema()

            def rebuild(model: Any = model) -> None:
                nonlocal report
                report = replay(parts, model, END_OF_TIME, skip_bad=True)

            def insert_rows() -> None:
                bulk_insert(bulk.engine, built)

            if round_ % 2 == 0:
                replay_ns.append(time_once(rebuild))
                built.update(rows_of(rebuilt.engine))
                bulk_ns.append(time_once(insert_rows))
            else:  # the bulk side first: it needs the rows of a previous round, same data
                bulk_ns.append(time_once(insert_rows))
                replay_ns.append(time_once(rebuild))
        figure = compared(
            NAME,
            f"replay.{kind}",
            f"storefront replay: rebuild the read model from {sizes.replay_events:,} events on {kind}",
            subject=Series(tuple(replay_ns)),
            baseline=Series(tuple(bulk_ns)),
            baseline_name=BASELINE,
            per=sizes.replay_events,
            unit="µs",
            item="event",
            target=TARGET,
            context={
                "events": sizes.replay_events,
                "events_per_s": round(sizes.replay_events / (Series(tuple(replay_ns)).median_ns / 1e9)),
                "applied": report.applied,
                "skipped": len(report.skipped),
                "rows": {name: len(table_rows) for name, table_rows in built.items()},
                "database": rebuilt.version(),
                "partitions": len(parts),
            },
        )
        if missed(figure) and sizes.profile:
            model = sql_read_model(rebuilt.fresh())
            model.create_schema()
            sample = partitions(min(PROFILE_EVENTS, sizes.replay_events), source_record)
            figure.profile = profile_top_frames(lambda: replay(sample, model, END_OF_TIME, skip_bad=True))
        return figure
    finally:
        for database in (rebuilt, bulk):
            with contextlib.suppress(Exception):
                database.drop()


def run(sizes: Sizes, workdir: Path) -> list[Figure]:
    figures = []
    for kind in ("sqlite", "postgresql"):
        name = f"replay.{kind}"
        description = f"storefront replay: rebuild the read model on {kind}"
        if _api() is None:
            figures.append(pending(NAME, name, description, "storefront.replay has not landed yet", TARGET))
            continue
        try:
            figures.append(measure(kind, sizes, workdir))
        except Exception as error:
            figures.append(failed(NAME, name, description, error))
    return figures
