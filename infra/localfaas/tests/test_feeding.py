"""Feeding a scenario on a kept state folder: a run started again feeds only what the killed one had not."""

from __future__ import annotations

import pytest

from localfaas.durable import DurableStore
from localfaas.embedded_log import EmbeddedLog
from localfaas.feeding import ScenarioFeeding
from localfaas.scenario import Scenario, ScenarioRecord

RECORDS = tuple(
    ScenarioRecord(topic, key=f"k{n}".encode(), value=f"v{n}".encode(), timestamp_ms=1_000 * (9 - n))
    for n, topic in enumerate(["orders", "payments", "orders", "orders", "payments"])
)
EVENTS = tuple({"Source": "shop", "DetailType": "Hello", "Detail": f'{{"n": {n}}}'} for n in range(25))
SCENARIO = Scenario("day", None, None, records=RECORDS, events=EVENTS)


class Killed(Exception):
    pass


class Events:
    """A put_events stub; with `dies_after`, the process is killed while that many more batches are put."""

    def __init__(self, dies_after: int | None = None) -> None:
        self.batches: list[int] = []
        self.dies_after = dies_after

    def __call__(self, entries: list[dict]) -> None:
        if self.dies_after is not None and len(self.batches) == self.dies_after:
            raise Killed
        self.batches.append(len(entries))


def feeding(tmp_path, log, resume=None, events=None):
    return ScenarioFeeding(DurableStore(tmp_path / "state"), log, SCENARIO, 60, resume, events or Events())


def produce(log, records) -> None:
    for r in records:
        log.produce(r.topic, r.value, key=r.key, timestamp_ms=r.timestamp_ms)


def test_a_first_feeding_releases_every_record_in_timestamp_order_and_every_event(tmp_path):
    log = EmbeddedLog(tmp_path / "log")
    log.produce("orders", b"before the scenario")  # not the scenario's: never taken for one of its records
    events = Events()
    first = feeding(tmp_path, log, events=events)
    assert not first.resumed
    assert first.records_left() == sorted(RECORDS, key=lambda r: r.timestamp_ms)
    first.put_events_left()
    assert events.batches == [10, 10, 5]


def test_a_resumed_feeding_leaves_out_the_records_and_event_batches_the_killed_run_fed(tmp_path):
    log = EmbeddedLog(tmp_path / "log")
    log.produce("orders", b"before the scenario")
    first = feeding(tmp_path, log, events=Events(dies_after=2))
    with pytest.raises(Killed):
        first.put_events_left()
    ordered = first.records_left()
    produce(log, ordered[:3])  # had the kill come here instead

    again_events = Events()
    again = feeding(tmp_path, log, events=again_events)
    assert again.resumed
    assert again.records_left() == ordered[3:]
    again.put_events_left()
    assert again_events.batches == [5]


def test_resume_false_feeds_it_all_again(tmp_path):
    log = EmbeddedLog(tmp_path / "log")
    first = feeding(tmp_path, log)
    produce(log, first.records_left())
    again = feeding(tmp_path, log, resume=False)
    assert not again.resumed
    assert len(again.records_left()) == len(RECORDS)


def test_a_changed_scenario_is_fed_from_the_start(tmp_path):
    log = EmbeddedLog(tmp_path / "log")
    first = feeding(tmp_path, log)
    produce(log, first.records_left())
    changed = Scenario("day", None, None, records=RECORDS[:2], events=EVENTS)
    again = ScenarioFeeding(DurableStore(tmp_path / "state"), log, changed, 60, None, Events())
    assert not again.resumed and len(again.records_left()) == 2
