"""What a report calls lost: unsettled records at the end of a run, pending ones when `up` stops."""

from __future__ import annotations

from types import SimpleNamespace

from localfaas.esm import PollReport
from localfaas.report import Report, mapping_summary


def mapping_with(settled: int) -> SimpleNamespace:
    stats = PollReport(records_delivered=settled)
    config = SimpleNamespace(logical_id="OrdersMapping", topics=("orders",))
    return SimpleNamespace(stats=stats, config=config)


def test_records_never_settled_by_the_end_of_a_run_are_lost():
    lost: list[str] = []
    summary = mapping_summary(mapping_with(settled=3), "Fn", records=5, lost=lost)
    assert (summary["unsettled"], summary["lost"]) == (2, 2)
    assert lost and "never settled" in lost[0]


def test_records_not_settled_when_a_running_stack_stops_are_pending_not_lost():
    lost: list[str] = []
    summary = mapping_summary(mapping_with(settled=3), "Fn", records=5, lost=lost, stopped=True)
    assert (summary["unsettled"], summary["lost"]) == (2, 0)
    assert lost == []
    rendered = Report({"esm": {"OrdersMapping": summary}, "lost": {"total": 0, "details": []}}).render()
    assert "NOTHING LOST" in rendered
    assert "2 record(s) pending" in rendered
