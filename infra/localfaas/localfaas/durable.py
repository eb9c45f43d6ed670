"""What AWS keeps durably once it has said yes, kept in the stack's state folder so a crash of
localfaas loses none of it: the entries PutEvents accepted and the asynchronous invocations Lambda
accepted, until each is settled, and what became of them (for the report), and what the stack sent
to each failure destination, by reason (an SNS topic keeps nothing a report could read back).

AWS's promises this honours:
- EventBridge: once an entry is accepted, "By default, EventBridge retries sending the event for 24
  hours and up to 185 times" before it drops it or sends it to the target's dead-letter queue ("How
  EventBridge retries delivering events", eb-rule-retry-policy.html; "Using dead-letter queues to
  process undelivered events", eb-rule-dlq.html, both under
  https://docs.aws.amazon.com/eventbridge/latest/userguide/): delivery is at least once.
- Lambda: "For asynchronous invocation, Lambda places the event in a queue and returns a success
  response without additional information. A separate process reads events from the queue and sends
  them to your function" ("Invoking a Lambda function asynchronously",
  https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html); that page, too, tells
  functions to be ready for the same event more than once.

So a resumed stack delivers an unsettled entry or invocation again with its own id: at least once,
never silently dropped. The store is SQLite (WAL, synchronous=FULL: an answered PutEvents survives
a power cut too), one connection shared by the pollers, the scheduler and the events endpoint behind
one lock. The file is the owner's alone (0600, in a 0700 folder): events carry customers' data.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["STORE_FILE", "AcceptedInvocation", "DurableStore", "offsets_from_json", "offsets_to_json"]

STORE_FILE = "durable.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bus_entry (
    event_id TEXT PRIMARY KEY,
    bus TEXT NOT NULL,
    source TEXT NOT NULL,
    detail_type TEXT NOT NULL,
    event TEXT NOT NULL,
    archived INTEGER NOT NULL DEFAULT 0,
    settled INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS bus_entry_unsettled ON bus_entry (bus, settled);
CREATE TABLE IF NOT EXISTS bus_outcome (
    event_id TEXT NOT NULL,
    replay TEXT NOT NULL,
    rule TEXT NOT NULL,
    target TEXT NOT NULL,
    result TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    error TEXT,
    PRIMARY KEY (event_id, replay, rule, target)
);
CREATE TABLE IF NOT EXISTS invocation (
    request_id TEXT PRIMARY KEY,
    function TEXT NOT NULL,
    payload TEXT NOT NULL,
    enqueued_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    condition TEXT,
    delivered INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS invocation_unsettled ON invocation (condition);
CREATE TABLE IF NOT EXISTS parked_sent (
    destination TEXT NOT NULL,
    reason TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (destination, reason)
);
CREATE TABLE IF NOT EXISTS progress (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class AcceptedInvocation:
    """An asynchronous invocation as the store holds it: `attempts` failed so far, the last error."""

    request_id: str
    function: str
    payload: Any
    enqueued_at: float
    attempts: int
    last_error: dict[str, Any] | None


class DurableStore:
    """The state folder's SQLite store. Every write is one committed transaction before it returns."""

    def __init__(self, directory: str | Path | None) -> None:
        """The store in `directory`; None keeps it in memory, for measuring what durability costs."""
        self._lock = threading.Lock()
        if directory is None:
            self.directory = self.path = None
            self._db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        else:
            self.directory = Path(directory)
            self.directory.mkdir(parents=True, exist_ok=True)
            os.chmod(self.directory, 0o700)
            self.path = self.directory / STORE_FILE
            # Created owner-only before SQLite opens it; its -wal and -shm files take the same mode.
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            os.chmod(self.path, 0o600)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, sql: str, rows: Iterable[tuple[Any, ...]]) -> None:
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(sql, rows)

    def _read(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # -- progress: small named values (run number, baselines, how far a scenario was fed) -------

    def get(self, name: str, default: Any = None) -> Any:
        rows = self._read("SELECT value FROM progress WHERE name = ?", name)
        return json.loads(rows[0][0]) if rows else default

    def put(self, name: str, value: Any) -> None:
        self._write("INSERT OR REPLACE INTO progress VALUES (?, ?)", [(name, json.dumps(value))])

    def begin_run(self) -> int:
        """Count one more run on this state (1 for the first), so ids drawn from a seeded generator
        after a restart are not the ones the killed run drew."""
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute("SELECT value FROM progress WHERE name = 'runs'").fetchone()
            runs = (json.loads(row[0]) if row else 0) + 1
            self._db.execute("INSERT OR REPLACE INTO progress VALUES ('runs', ?)", (json.dumps(runs),))
        return runs

    # -- EventBridge entries --------------------------------------------------------------------

    def accept_events(self, bus: str, events: Iterable[dict[str, Any]], *, archived: bool = False) -> None:
        """Keep accepted envelopes, before PutEvents answers (`archived`: the bus's archives have them
        already). An id seen before is left as it is."""
        self._write(
            "INSERT OR IGNORE INTO bus_entry (event_id, bus, source, detail_type, event, archived) "
            "VALUES (?,?,?,?,?,?)",
            [
                (
                    e["id"],
                    bus,
                    str(e["source"]),
                    str(e["detail-type"]),
                    json.dumps(e, separators=(",", ":")),
                    int(archived),
                )
                for e in events
            ],
        )

    def record_delivery(
        self,
        event_id: str,
        replay: str | None,
        rule: str,
        target: str,
        result: str,
        attempts: int,
        error: str | None,
        *,
        settles: bool = False,
    ) -> None:
        """What became of an event at one target (the last word wins: a redelivery after a restart
        replaces, it does not add); `settles`: it was the event's last target, in the same commit."""
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT OR REPLACE INTO bus_outcome VALUES (?,?,?,?,?,?,?)",
                (event_id, replay or "", rule, target, result, attempts, error),
            )
            if settles:
                self._db.execute("UPDATE bus_entry SET settled = 1 WHERE event_id = ?", (event_id,))

    def settle_event(self, event_id: str) -> None:
        """Every target the event matched is done with it (delivered, dead-lettered or dropped)."""
        self._write("UPDATE bus_entry SET settled = 1 WHERE event_id = ?", [(event_id,)])

    def unsettled_events(self, bus: str) -> list[tuple[dict[str, Any], bool]]:
        """(envelope, archived) of every accepted entry of `bus` not yet settled, in acceptance order."""
        rows = self._read(
            "SELECT event, archived FROM bus_entry WHERE bus = ? AND settled = 0 ORDER BY rowid", bus
        )
        return [(json.loads(event), bool(archived)) for event, archived in rows]

    def delivered_targets(self, event_id: str) -> set[tuple[str, str]]:
        """(rule, target) pairs that are done with an event (not counting replays)."""
        rows = self._read("SELECT rule, target FROM bus_outcome WHERE event_id = ? AND replay = ''", event_id)
        return {(rule, target) for rule, target in rows}

    def event_counts(self) -> dict[str, int]:
        """Accepted entries by "source/detail-type"."""
        rows = self._read("SELECT source, detail_type, COUNT(*) FROM bus_entry GROUP BY source, detail_type")
        return {f"{source}/{detail_type}": count for source, detail_type, count in rows}

    def delivery_outcomes(self) -> list[tuple[str, str, str, str, int, str | None]]:
        """(event_id, rule, target, result, attempts, error) of every delivery that ended."""
        return self._read(
            "SELECT event_id, rule, target, result, attempts, error FROM bus_outcome ORDER BY rowid"
        )

    # -- Lambda asynchronous invocations ---------------------------------------------------------

    def accept_invocation(self, request_id: str, function: str, payload: Any, enqueued_at: float) -> None:
        """Keep a queued invocation, before its request id is returned."""
        self._write(
            "INSERT OR IGNORE INTO invocation (request_id, function, payload, enqueued_at) VALUES (?,?,?,?)",
            [(request_id, function, json.dumps(payload), enqueued_at)],
        )

    def record_attempt(self, request_id: str, attempts: int, error: dict[str, Any] | None) -> None:
        """A failed attempt: the retry state a resumed queue starts from."""
        self._write(
            "UPDATE invocation SET attempts = ?, last_error = ? WHERE request_id = ?",
            [(attempts, json.dumps(error), request_id)],
        )

    def settle_invocation(self, request_id: str, condition: str, attempts: int) -> None:
        """Success, RetriesExhausted or EventAgeExceeded: the invocation leaves the queue."""
        self._write(
            "UPDATE invocation SET condition = ?, attempts = ? WHERE request_id = ?",
            [(condition, attempts, request_id)],
        )

    def mark_record_delivered(self, request_id: str) -> None:
        """The invocation's record reached its on-failure destination or DLQ."""
        self._write("UPDATE invocation SET delivered = 1 WHERE request_id = ?", [(request_id,)])

    def unsettled_invocations(self) -> list[AcceptedInvocation]:
        rows = self._read(
            "SELECT request_id, function, payload, enqueued_at, attempts, last_error FROM invocation "
            "WHERE condition IS NULL ORDER BY rowid"
        )
        return [
            AcceptedInvocation(rid, fn, json.loads(payload), at, attempts, json.loads(err) if err else None)
            for rid, fn, payload, at, attempts, err in rows
        ]

    def invocation_outcomes(self) -> list[tuple[str, str, str, int, bool]]:
        """(request_id, function, condition, attempts, record delivered) of every settled invocation."""
        rows = self._read(
            "SELECT request_id, function, condition, attempts, delivered FROM invocation "
            "WHERE condition IS NOT NULL ORDER BY rowid"
        )
        return [
            (rid, fn, condition, attempts, bool(delivered))
            for rid, fn, condition, attempts, delivered in rows
        ]

    # -- failure destinations ------------------------------------------------------------------

    def note_parked(self, destination: str, reason: str) -> None:
        """One more document sent to a failure destination (an ARN) for `reason`."""
        self._write(
            "INSERT INTO parked_sent VALUES (?, ?, 1) "
            "ON CONFLICT (destination, reason) DO UPDATE SET count = count + 1",
            [(destination, reason)],
        )

    def parked_sent(self) -> dict[str, Counter[str]]:
        """{destination: Counter(reason: documents sent)}, over every run on this state."""
        sent: dict[str, Counter[str]] = {}
        for destination, reason, count in self._read("SELECT destination, reason, count FROM parked_sent"):
            sent.setdefault(destination, Counter())[reason] = count
        return sent


def offsets_to_json(offsets: Mapping[tuple[str, int], int]) -> list[list[Any]]:
    """{(topic, partition): offset} as a progress value ([[topic, partition, offset], ...])."""
    return [[topic, partition, offset] for (topic, partition), offset in sorted(offsets.items())]


def offsets_from_json(rows: Iterable[list[Any]]) -> dict[tuple[str, int], int]:
    return {(str(topic), int(partition)): int(offset) for topic, partition, offset in rows}
