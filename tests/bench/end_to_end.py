"""End to end: events per second through `localfaas run` on the business-day scenario.

What `localfaas run --scenario events/scenarios/business-day.json` does, through its Python API
(localfaas.local_stack.LocalStack): the template's stack on moto, the scenario's records produced
to the log, every event source mapping polled and every bus rule delivered until the stack is
idle. Timed: feeding the scenario and running until idle (start-up and provisioning are not).
Twice: on the embedded log, and over Kafka on a Tansu broker (started here with the test fixture's
code, infra/localfaas/tests/tansu.py). No target and no baseline: the issue asks for the rate, as
context for the batch and invoke figures, which carry the ratios.

Until the run API is committed, the figures say "pending", with no number.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.bench.harness import Figure, Series, Sizes, failed, pending, time_once
from tests.bench.report import ROOT

NAME = "end_to_end"
SCENARIO = ROOT / "events" / "scenarios" / "business-day.json"
_API_FILES = ("infra/localfaas/localfaas/local_stack.py", "infra/localfaas/localfaas/scenario.py")


def _landed() -> str | None:
    """None when the run API is committed and importable; otherwise why not."""
    for path in _API_FILES:
        tracked = subprocess.run(
            ["git", "ls-files", "--error-unmatch", path], cwd=ROOT, capture_output=True, check=False
        )
        if tracked.returncode != 0:
            return f"the `localfaas run` API ({path}) has not landed yet"
    try:
        from localfaas.local_stack import LocalStack  # noqa: F401
        from localfaas.scenario import load_scenario  # noqa: F401
    except ImportError as error:
        return f"the `localfaas run` API cannot be imported: {error}"
    return None


@contextlib.contextmanager
def _broker(workdir: Path) -> Iterator[str]:
    from infra.localfaas.tests.tansu import start_broker, stop_broker

    process, bootstrap = start_broker(workdir / "tansu.log")
    try:
        yield bootstrap
    finally:
        stop_broker(process)


def measure(log: str, sizes: Sizes, workdir: Path, bootstrap: str | None = None) -> Figure:
    from localfaas.local_stack import LocalStack
    from localfaas.scenario import load_scenario

    scenario = load_scenario(SCENARIO)
    records = len(scenario.records) + len(scenario.events)
    samples: list[int] = []
    report: Any = None
    for _ in range(sizes.end_to_end_runs):
        stack = LocalStack(
            scenario.template,
            parameters=scenario.parameters,
            log=log,
            log_dir=workdir / f"log-{log}-{len(samples)}" if log == "embedded" else None,
            bootstrap_servers=bootstrap,
            topics=scenario.topics,
        )
        with stack:

            def run_scenario(stack: Any = stack) -> None:
                stack.feed(scenario)
                stack.run_until_idle()

            samples.append(time_once(run_scenario))
            report = stack.report(scenario)
    series = Series(tuple(samples))
    return Figure(
        NAME,
        f"end_to_end.{log}",
        f"localfaas run, business-day scenario, {log} log, moto",
        value=series.median_ns / records / 1000,
        unit="µs/event",
        spread=series.spread(records, "µs"),
        context={
            "events": records,
            "events_per_s": round(records / (series.median_ns / 1e9)),
            "checks_ok": bool(getattr(report, "ok", False)),
        },
    )


def run(sizes: Sizes, workdir: Path) -> list[Figure]:
    why_not = _landed()
    if why_not is not None:
        return [
            pending(NAME, f"end_to_end.{log}", f"localfaas run, business-day scenario, {log} log", why_not)
            for log in ("embedded", "kafka")
        ]
    figures = []
    try:
        figures.append(measure("embedded", sizes, workdir))
    except Exception as error:
        figures.append(failed(NAME, "end_to_end.embedded", "localfaas run, embedded log", error))
    try:
        with _broker(workdir) as bootstrap:
            figures.append(measure("kafka", sizes, workdir, bootstrap))
    except Exception as error:
        figures.append(failed(NAME, "end_to_end.kafka", "localfaas run, Kafka on Tansu", error))
    return figures
