"""How far a scenario was fed into a stack whose state folder outlives it, so that a run killed
half-way and started again feeds only what the killed run had not (`LocalStack.run_scenario`).

Records are produced in a fixed order (the scenario's, or by timestamp when released in windows), so
the ones a killed run produced are a prefix of that order: counting, per topic, the records the log
holds past where feeding began tells how long that prefix is, without a write per record. That holds
while nothing else writes to the scenario's topics as it is fed (localfaas itself does not). Events
are put ten at a time, PutEvents' limit, and each batch is counted in the store once PutEvents has
answered: a kill between the two puts that batch again, with new ids, as a producer's retry would.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from localfaas.durable import DurableStore, offsets_from_json, offsets_to_json

if TYPE_CHECKING:
    from localfaas.log import Log
    from localfaas.scenario import Scenario, ScenarioRecord

__all__ = ["ScenarioFeeding", "end_offsets", "records_since"]


def end_offsets(log: Log, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    """{(topic, partition): end offset} of every partition of `topics`."""
    return {(t, p): log.end_offset(t, p) for t in topics for p in range(log.partitions(t))}


def records_since(log: Log, topic: str, baseline: Mapping[tuple[str, int], int]) -> int:
    """Records `topic` holds past `baseline` (all of them in a partition the baseline does not know)."""
    return sum(
        log.end_offset(topic, p) - baseline.get((topic, p), log.beginning_offset(topic, p))
        for p in range(log.partitions(topic))
    )


class ScenarioFeeding:
    """One scenario's feeding on a store: `resume` None resumes when the store saw it fed before."""

    def __init__(
        self,
        store: DurableStore,
        log: Log,
        scenario: Scenario,
        window_s: float | None,
        resume: bool | None,
        put_events: Callable[[list[dict[str, Any]]], Any],
    ) -> None:
        self._store, self._log, self._scenario, self._put_events = store, log, scenario, put_events
        digest = hashlib.sha256(repr((scenario.records, scenario.events, window_s or 0)).encode()).hexdigest()
        self._key = f"fed:{scenario.name}:{digest[:16]}"
        kept = store.get(self._key)
        self.resumed = kept is not None and resume is not False
        if not self.resumed:
            kept = {"baseline": offsets_to_json(end_offsets(log, log.topics())), "events": 0}
            store.put(self._key, kept)
        self._state = kept
        records = list(scenario.records)
        if window_s:  # sorted() is stable: records of the same time keep the scenario's order
            records.sort(key=lambda r: -math.inf if r.timestamp_ms is None else r.timestamp_ms)
        self._records = records

    def records_left(self) -> list[ScenarioRecord]:
        """The records still to produce, in the order to produce them."""
        if not self.resumed:
            return self._records
        baseline = offsets_from_json(self._state["baseline"])
        existing = set(self._log.topics())
        in_log = {
            t: records_since(self._log, t, baseline) for t in {r.topic for r in self._records} & existing
        }
        seen: Counter[str] = Counter()
        for index, record in enumerate(self._records):
            if seen[record.topic] >= in_log.get(record.topic, 0):
                return self._records[index:]
            seen[record.topic] += 1
        return []

    def put_events_left(self) -> None:
        """Put the events not yet put, ten at a time."""
        events = list(self._scenario.events)
        for start in range(self._state["events"], len(events), 10):
            self._put_events(events[start : start + 10])
            self._state["events"] = min(start + 10, len(events))
            self._store.put(self._key, self._state)
