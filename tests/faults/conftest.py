"""The uninterrupted business day every fault test compares with: run once per session (about 50 s);
and the suite's figures, said at the end of the run (`make test` captures what tests print)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.faults.day import DayRun, run_day
from tests.faults.effects import counts

FIGURES: list[str] = []


@pytest.fixture(scope="session")
def figures() -> Callable[[str], None]:
    """Say one figure of the fault suite: it is printed in the run's summary, "fault suite figures"."""
    return FIGURES.append


@pytest.fixture(scope="session")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, figures: Callable[[str], None]) -> DayRun:
    run = run_day(tmp_path_factory.mktemp("uninterrupted"))
    assert run.report.ok, run.report.render()
    figures(f"uninterrupted day: {run.seconds:.1f} s; effects {counts(run.effects)}")
    return run


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("fault suite figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
