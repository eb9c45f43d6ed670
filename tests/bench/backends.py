"""Backends: the business day on LocalStack, as a ratio to the same day on moto.

What `localfaas run --scenario events/scenarios/business-day.json --backend localstack` does, through
its Python API (localfaas.local_stack.LocalStack.run_scenario, the scenario's window included), the
embedded log, the in-process runtime. Subject: the AWS services on LocalStack (tests/support/
localstack.py: `.tools/localstack`, started once, untimed, on 127.0.0.1; each day a stack of its own
name, since LocalStack keeps the last one's). Baseline: the same day on moto, in this process's
thread, as `localfaas run` runs by default. Each day is timed from feeding to idle, after one
uncounted warm-up day on moto (the process's first day pays one-time imports), the two sides
interleaved (B S, S B, ...). No target: issue 13 asks for the cost, reported.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tests.bench.end_to_end import SCENARIO, run_api_missing
from tests.bench.harness import (
    Figure,
    OverBudget,
    Series,
    Sizes,
    compared,
    failed,
    pending,
    time_once,
    within_budget,
)

NAME = "backends"
FIGURE = "backends.business_day_localstack"
DESCRIPTION = "business-day scenario, localfaas run on LocalStack, embedded log, in-process runtime"
BASELINE = "the same day on moto (the default backend)"
# Seconds a day may take on the BENCHMARKS.md machine (Sizes.budget_s scales them to this one): LocalStack's
# day is a few minutes on the shared machine.
BUDGET_S = 600


def _run_day(scenario: Any, workdir: Path, backend: Any, name: str, budget_s: float) -> tuple[int, bool]:
    """(nanoseconds from feeding to idle, whether every check passed) of one day on a fresh stack."""
    from localfaas.local_stack import LocalStack

    state = workdir / f"backends-{name}"
    shutil.rmtree(state, ignore_errors=True)
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
        backend=backend,
        stack_name=name,
    ).start()
    elapsed = within_budget(
        budget_s, lambda: time_once(lambda: stack.run_scenario(scenario, window_s=scenario.window_s))
    )
    checks_ok = bool(stack.report(scenario).ok)
    stack.close()
    shutil.rmtree(state, ignore_errors=True)
    return elapsed, checks_ok


def measure(sizes: Sizes, workdir: Path) -> Figure:
    from localfaas.backend import LocalStackBackend
    from localfaas.scenario import load_scenario
    from tests.support.localstack import LocalStackProcess

    scenario = load_scenario(SCENARIO)
    records = len(scenario.records) + len(scenario.events)
    budget_s = sizes.budget_s(BUDGET_S)
    localstack = LocalStackProcess(workdir / "localstack").start()
    try:
        _run_day(scenario, workdir, "moto", "warm-up", budget_s)
        on_localstack: list[int] = []
        on_moto: list[int] = []
        all_ok = True
        for round_ in range(sizes.backends_runs):
            for kind in ("localstack", "moto") if round_ % 2 else ("moto", "localstack"):
                backend = LocalStackBackend(localstack.endpoint_url) if kind == "localstack" else "moto"
                elapsed, ok = _run_day(scenario, workdir, backend, f"day-{kind}-{round_}", budget_s)
                (on_localstack if kind == "localstack" else on_moto).append(elapsed)
                all_ok = all_ok and ok
    finally:
        localstack.stop()
    subject, baseline = Series(tuple(on_localstack)), Series(tuple(on_moto))
    return compared(
        NAME,
        FIGURE,
        DESCRIPTION,
        subject=subject,
        baseline=baseline,
        baseline_name=BASELINE,
        per=records,
        unit="µs",
        item="event",
        context={
            "events": records,
            "day_s": round(subject.median_ns / 1e9, 2),
            "baseline_day_s": round(baseline.median_ns / 1e9, 2),
            "localstack_start_s": round(localstack.started_in_s, 1),
            "checks_ok": all_ok,
        },
    )


def run(sizes: Sizes, workdir: Path) -> list[Figure]:
    why_not = run_api_missing()
    if why_not is not None:
        return [pending(NAME, FIGURE, DESCRIPTION, why_not)]
    if not sizes.backends_runs:
        return [pending(NAME, FIGURE, DESCRIPTION, "not run in quick mode (business days on LocalStack)")]
    try:
        return [measure(sizes, workdir)]
    except OverBudget as error:  # a figure without a number, as end_to_end's: the next benchmark goes on
        return [pending(NAME, FIGURE, DESCRIPTION, f"over budget: {error} ({sizes.budget_note()})")]
    except Exception as error:
        return [failed(NAME, FIGURE, DESCRIPTION, error)]
