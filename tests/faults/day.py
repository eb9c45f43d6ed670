"""The business day (events/scenarios/business-day.json) run on localfaas, and what it left behind.

`run_day` runs the day once on a fresh moto backend with its own read model (a SQLite file), with
extra records produced before or after it, and returns the report and the effects (tests.faults.effects)
so a run under faults can be compared with an uninterrupted one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localfaas.local_stack import LocalStack
from localfaas.report import Report
from localfaas.scenario import Scenario, ScenarioRecord, load_scenario
from tests.faults.effects import read_effects
from tests.support.stack import ROOT

BUSINESS_DAY = ROOT / "events" / "scenarios" / "business-day.json"
# A JSON array nested 5000 deep: 10 KB that a recursive parser cannot read.
POISON = b"[" * 5000 + b"]" * 5000


@dataclass
class DayRun:
    report: Report
    effects: dict[str, Any]
    seconds: float


def business_day() -> Scenario:
    return load_scenario(BUSINESS_DAY)


def run_day(
    folder: Path,
    *,
    before: Iterable[ScenarioRecord] = (),
    after: Callable[[LocalStack, Scenario], None] | None = None,
    **stack_options: Any,
) -> DayRun:
    """The day, with `before` produced first and `after(stack, day)` called once the day is done."""
    day = business_day()
    read_model = f"sqlite:///{folder / 'read-model.db'}"
    environment = {**day.environment, "ProjectSql": {"DATABASE_URL": read_model}}
    started = time.perf_counter()
    with LocalStack(
        day.template,
        parameters=day.parameters,
        topics=day.topics,
        environment=environment,
        log_dir=folder / "log",
        enforce_roles=True,  # issue 14: the day passes under the functions' own roles
        **stack_options,
    ) as stack:
        stack.produce_records(before)
        stack.run_scenario(day, window_s=day.window_s)
        if after is not None:
            after(stack, day)
        report = stack.report(day)
        effects = read_effects(
            stack.template.resources,
            stack.template.physical_names,
            stack.client,
            moto_endpoint=stack.backend.endpoint_url,
            read_model_url=read_model,
        )
    return DayRun(report, effects, time.perf_counter() - started)


def poison_per_partition(day: Scenario) -> list[ScenarioRecord]:
    """One poison record at the head of every partition of every topic of the day, stamped with the
    day's first time so a windowed run meets it before the valid records behind it."""
    first = min(r.timestamp_ms for r in day.records if r.timestamp_ms is not None)
    return [
        ScenarioRecord(topic, key=b"poison", value=POISON, timestamp_ms=first, partition=partition)
        for topic, partitions in sorted(day.topics.items())
        for partition in range(partitions)
    ]
