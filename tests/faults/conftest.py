"""The uninterrupted business day every fault test compares with: run once per session (about 50 s)."""

from __future__ import annotations

import pytest

from tests.faults.day import DayRun, run_day
from tests.faults.effects import counts


@pytest.fixture(scope="session")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> DayRun:
    run = run_day(tmp_path_factory.mktemp("uninterrupted"))
    assert run.report.ok, run.report.render()
    print(f"\nuninterrupted day: {run.seconds:.1f} s; effects {counts(run.effects)}")
    return run
