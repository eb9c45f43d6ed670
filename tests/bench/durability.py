"""Durability: what keeping the bus durable costs the business day, as a ratio.

What `localfaas run --scenario events/scenarios/business-day.json` does, through its Python API
(localfaas.local_stack.LocalStack.run_scenario, the scenario's window included): the template's
stack on moto, the embedded log. Subject: the stack as it runs, durable, its store
(localfaas.durable: the entries PutEvents accepted, the asynchronous invocations queued, the run's
progress) a SQLite file in a state folder on disk (WAL, synchronous=FULL: each write a committed,
fsynced transaction before the call it records answers). Baseline: the same stack with
`durable=False`, the same store kept in memory, which is what localfaas did before it was durable.
Everything else is the same on both sides, the embedded log and the archives on disk included.

Each run gets a fresh stack and state folder (started untimed), is timed from feeding the day to
idle, and the runs are interleaved (B S, S B, ...) after one uncounted warm-up run (the process's
first day pays one-time imports and caches). No target: the issue asks for the cost, reported.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from tests.bench.end_to_end import SCENARIO, run_api_missing
from tests.bench.harness import Figure, Series, Sizes, compared, failed, pending, time_once, within_budget

NAME = "durability"
FIGURE = "durability.business_day"
DESCRIPTION = "business-day scenario, localfaas run on moto, embedded log, durable store on disk"
BASELINE = "the same day, the store in memory (durable=False)"
# Seconds a day may take on the BENCHMARKS.md machine (Sizes.budget_s scales them to this one); a day
# that has not settled by then is reported as such (its thread is left to the process's end: the
# stack is in-process, as the figure needs, so it cannot be killed on its own).
BUDGET_S = 240


def _day(sizes: Sizes) -> Any:
    """The business day, or the first `sizes.durability_records` records of each of its topics (the
    smoke test's size: the day begins with inventory alone, so a plain prefix never reaches the bus)."""
    from localfaas.scenario import load_scenario

    scenario = load_scenario(SCENARIO)
    if sizes.durability_records:
        taken: Counter[str] = Counter()
        kept = []
        for record in scenario.records:
            taken[record.topic] += 1
            if taken[record.topic] <= sizes.durability_records:
                kept.append(record)
        scenario = dataclasses.replace(scenario, records=tuple(kept))
    return scenario


def _run_day(
    scenario: Any, workdir: Path, *, durable: bool, run_number: int, budget_s: float
) -> tuple[int, dict[str, Any]]:
    """(nanoseconds from feeding to idle, what the run left in its store) of one day on a fresh stack."""
    from localfaas.local_stack import LocalStack

    state = workdir / f"durability-{'disk' if durable else 'memory'}-{run_number}"
    shutil.rmtree(state, ignore_errors=True)
    # As end_to_end does: a read-model file per run (ProjectSql runs in its code folder: absolute path).
    environment = {
        **scenario.environment,
        "ProjectSql": {"DATABASE_URL": f"sqlite:///{(workdir / f'{state.name}.db').resolve()}"},
    }
    stack = LocalStack(
        scenario.template,
        parameters=scenario.parameters,
        topics=scenario.topics,
        state_dir=state,
        environment=environment,
        durable=durable,
    ).start()
    # Over budget, the stack is left running: closing it under the busy thread ended the process.
    elapsed = within_budget(
        budget_s, lambda: time_once(lambda: stack.run_scenario(scenario, window_s=scenario.window_s))
    )
    kept = {
        "bus_entries": sum(stack.store.event_counts().values()),
        "async_invocations": len(stack.store.invocation_outcomes()),
        "checks_ok": bool(stack.report(scenario).ok),
    }
    stack.close()
    shutil.rmtree(state, ignore_errors=True)
    return elapsed, kept


def measure(sizes: Sizes, workdir: Path) -> Figure:
    budget_s = sizes.budget_s(BUDGET_S)
    scenario = _day(sizes)
    records = len(scenario.records) + len(scenario.events)
    _run_day(scenario, workdir, durable=False, run_number=0, budget_s=budget_s)  # warm-up, not counted
    disk: list[int] = []
    memory: list[int] = []
    kept: dict[str, Any] = {}
    for round_ in range(sizes.durability_runs):
        # The order flips every round, as harness.interleaved does: neither side always runs second.
        for durable in (True, False) if round_ % 2 else (False, True):
            elapsed, left = _run_day(
                scenario, workdir, durable=durable, run_number=round_ + 1, budget_s=budget_s
            )
            (disk if durable else memory).append(elapsed)
            if durable:
                kept = left
    subject, baseline = Series(tuple(disk)), Series(tuple(memory))
    figure = compared(
        NAME,
        FIGURE,
        DESCRIPTION if not sizes.durability_records else f"{DESCRIPTION}, {records} records of it",
        subject=subject,
        baseline=baseline,
        baseline_name=BASELINE,
        per=records,
        unit="µs",
        item="event",
        context={
            "events": records,
            "events_per_s": round(records / (subject.median_ns / 1e9)),
            "day_s": round(subject.median_ns / 1e9, 2),
            "baseline_day_s": round(baseline.median_ns / 1e9, 2),
            # What a durable day writes to the store beside its progress (each a committed transaction
            # or more: an entry accepted, then its deliveries and settling; an invocation queued, settled).
            **kept,
        },
    )
    return figure


def run(sizes: Sizes, workdir: Path) -> list[Figure]:
    why_not = run_api_missing()
    if why_not is not None:
        return [pending(NAME, FIGURE, DESCRIPTION, why_not)]
    if not sizes.durability_runs:
        # A day is 30 s to a minute on the shared 2-core machine: three of them are past a quick run.
        return [pending(NAME, FIGURE, DESCRIPTION, "not run in quick mode (a business day per run)")]
    try:
        return [measure(sizes, workdir)]
    except Exception as error:
        return [failed(NAME, FIGURE, DESCRIPTION, error)]
