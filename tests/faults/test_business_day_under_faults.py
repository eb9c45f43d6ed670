"""The business day under faults: the same effects as an uninterrupted day, or the test says which differ.

Each test runs the whole day (events/scenarios/business-day.json) on localfaas with moto, a fault
added, and compares every business effect (tests.faults.effects) with one uninterrupted run's, then
says its figures (the run's summary prints them). Cost: about 40 s of CPU per day run on the CI
machine, one day run per test.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from localfaas.faults import FaultPlan
from tests.faults.day import DayRun, business_day, poison_per_partition, run_day
from tests.faults.effects import bus_events, differences, kafka_lines

# A day run is about a minute; the first test also runs the uninterrupted day, and a machine shared
# with other jobs can make both three times slower than that: the suite's 300 s would cut it short.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
# S3 keys of the audit archive name Kafka offsets, which move when the log holds other records, and
# the first offset of a batch, which moves when a retry cuts the batch elsewhere (storefront.audit):
# the archive is compared by the records it holds ("s3_records", by Kafka coordinates), where the
# log holds the same records.
# Bus events are archived in batches of the audit queue's messages, grouped as the batches were cut,
# and again when a message comes again: compared by event id (bus_events), never by object or line.
ARCHIVE = {"s3", "s3_lines", "s3_bus_lines"}
OTHER_OFFSETS = ARCHIVE | {"s3_records"}


def test_the_day_produced_twice_adds_no_effect_anywhere(
    uninterrupted: DayRun, tmp_path: Path, figures: Callable[[str], None]
) -> None:
    """A producer retry: every record of the day again, same event ids, new offsets."""

    def produce_again(stack, day) -> None:
        stack.produce_records(day.records)
        assert stack.run_until_idle()

    run = run_day(tmp_path, after=produce_again)
    figures(f"day produced twice: {run.seconds:.1f} s")
    # The second copies are new records (new offsets) the archive keeps: counted below.
    assert differences(uninterrupted.effects, run.effects, ignore=OTHER_OFFSETS) == []
    # The audit archive is the log's copy: it keeps the second copies, each once, and nothing else
    # (the day's malformed records are parked, not archived, both times). The bus carries the
    # reactions' announcements again (same event ids): the archive holds the same bus events.
    assert bus_events(run.effects) == bus_events(uninterrupted.effects)
    records_archived = kafka_lines(uninterrupted.effects)
    assert records_archived > 0.99 * len(business_day().records)
    assert kafka_lines(run.effects) == 2 * records_archived
    assert run.report.lost == 0, run.report.render()


def test_a_poison_record_at_the_head_of_every_partition_stops_nothing_behind_it(
    uninterrupted: DayRun, tmp_path: Path, figures: Callable[[str], None]
) -> None:
    poison = poison_per_partition(business_day())
    run = run_day(tmp_path, before=poison)
    figures(f"{len(poison)} poison records (10 KB, nested 5000 deep) ahead of the day: {run.seconds:.1f} s")
    assert differences(uninterrupted.effects, run.effects, ignore=OTHER_OFFSETS) == []
    assert bus_events(run.effects) == bus_events(uninterrupted.effects)
    # Every mapping filters its records by content; a record no filter can read is filtered out
    # (https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html), so none is archived.
    assert kafka_lines(run.effects) == kafka_lines(uninterrupted.effects)
    assert run.report.lost == 0, run.report.render()


def test_a_fifth_of_the_functions_aws_calls_throttled_changes_no_effect(
    uninterrupted: DayRun, tmp_path: Path, figures: Callable[[str], None]
) -> None:
    """Every AWS call of a function refused with the service's throttling error one time in five
    (botocore's standard retry mode retries them, then Lambda's retries take over)."""
    run = run_day(tmp_path, faults=FaultPlan(throttle=0.2, seed=7))
    injected = run.report.data["faults"]["injected"]
    again = _archived(run) - _archived(uninterrupted)
    figures(
        f"day with a fifth of the functions' AWS calls throttled (seed 7): {run.seconds:.1f} s; injected "
        f"{injected}; parked {run.report.data['parked']['total']} (uninterrupted: "
        f"{uninterrupted.report.data['parked']['total']}); {again} archive lines written again by retried batches"
    )
    # The plan took part: the day makes about 2,500 calls (BENCHMARKS.md, aws_calls), a fifth of
    # them refused at least once, retries included.
    assert sum(injected.values()) > 400
    assert differences(uninterrupted.effects, run.effects, ignore=ARCHIVE) == []
    assert bus_events(run.effects) == bus_events(uninterrupted.effects)
    # Nothing valid is left in a failure destination: only the day's own malformed records.
    assert run.report.data["parked"]["total"] == uninterrupted.report.data["parked"]["total"]
    assert run.report.ok, run.report.render()


def _archived(run: DayRun) -> int:
    return run.effects["s3_lines"]["AuditArchiveBucket"]
