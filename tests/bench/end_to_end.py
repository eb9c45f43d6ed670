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
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from tests.bench.harness import Figure, Series, Sizes, failed, pending, profile_shares, time_once
from tests.bench.report import ROOT

NAME = "end_to_end"
SCENARIO = ROOT / "events" / "scenarios" / "business-day.json"
# A run that has not settled by then is reported as such (its thread is left to the process's end).
BUDGET_S = {"quick": 30, "full": 240}
# Where a run's time goes (tests.bench.harness.profile_shares): moto keeps what it calls.
MOTO = "moto (AWS, answered in-process)"
LAYERS = {
    MOTO: ("moto",),
    "botocore and boto3 (the client side of each AWS call)": ("botocore", "boto3"),
    "Powertools": ("aws_lambda_powertools",),
    "pydantic": ("pydantic",),
    "SQLAlchemy": ("sqlalchemy",),
    "the storefront's handlers and domain": ("functions/",),
    "localfaas": ("infra/localfaas",),
}
T = TypeVar("T")
_API_FILES = ("infra/localfaas/localfaas/local_stack.py", "infra/localfaas/localfaas/scenario.py")


def run_api_missing() -> str | None:
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


class OverBudget(RuntimeError):
    pass


def within_budget(budget_s: float, work: Callable[[], T]) -> T:
    """work()'s result, or OverBudget when it has not returned within `budget_s` (it runs on in a
    daemon thread: a stack that never settles cannot be stopped from outside)."""
    box: list[Any] = []
    thread = threading.Thread(target=lambda: box.append(work()), name="bench-end-to-end", daemon=True)
    thread.start()
    thread.join(budget_s)
    if not box:
        raise OverBudget(f"the scenario had not settled after {budget_s:.0f} s")
    return box[0]


def measure(
    log: str,
    sizes: Sizes,
    workdir: Path,
    bootstrap: str | None = None,
    *,
    budget_s: float = 600,
    profile: bool = False,
) -> Figure:
    from localfaas.local_stack import LocalStack
    from localfaas.scenario import load_scenario

    scenario = load_scenario(SCENARIO)
    records = len(scenario.records) + len(scenario.events)

    def started(run_number: int) -> Any:
        # As `make demo` does: the template leaves DATABASE_URL empty (on AWS ProjectSql reads the
        # Aurora secret), and a function runs in its own code folder, so the path is absolute.
        read_model = workdir / f"read-model-{log}-{run_number}.db"
        read_model.unlink(missing_ok=True)
        stack = LocalStack(
            scenario.template,
            parameters=scenario.parameters,
            log=log,
            log_dir=workdir / f"log-{log}-{run_number}" if log == "embedded" else None,
            bootstrap_servers=bootstrap,
            topics=scenario.topics,
            environment={"ProjectSql": {"DATABASE_URL": f"sqlite:///{read_model.resolve()}"}},
        )
        return stack.start()

    def run_scenario(stack: Any) -> None:
        stack.feed(scenario)
        stack.run_until_idle()

    samples: list[int] = []
    report: Any = None
    for run_number in range(sizes.end_to_end_runs):
        stack = started(run_number)
        # Over budget, the stack is left running: closing it under the busy thread ended the process.
        samples.append(within_budget(budget_s, lambda stack=stack: time_once(lambda: run_scenario(stack))))
        report = stack.report(scenario)
        stack.close()
    shares: list[dict[str, Any]] = []
    if profile:  # one more run, profiled, not timed
        stack = started(sizes.end_to_end_runs)
        shares = within_budget(
            budget_s, lambda: profile_shares(lambda: run_scenario(stack), LAYERS, absorbing=(MOTO,))
        )
        stack.close()
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
            **({"time_shares": shares} if shares else {}),
        },
    )


def run(sizes: Sizes, workdir: Path) -> list[Figure]:
    why_not = run_api_missing()
    if why_not is not None:
        return [
            pending(NAME, f"end_to_end.{log}", f"localfaas run, business-day scenario, {log} log", why_not)
            for log in ("embedded", "kafka")
        ]
    budget_s = BUDGET_S["full" if sizes.profile else "quick"]
    try:
        embedded = measure("embedded", sizes, workdir, budget_s=budget_s, profile=sizes.profile)
    except Exception as error:
        embedded = failed(NAME, "end_to_end.embedded", "localfaas run, embedded log", error)
    if isinstance(embedded.reason, str) and "had not settled" in embedded.reason:
        # The stuck run still holds the CPU; a Kafka run beside it would measure both.
        return [
            embedded,
            pending(
                NAME,
                "end_to_end.kafka",
                "localfaas run, Kafka on Tansu",
                "not run: the embedded run did not settle",
            ),
        ]
    try:
        with _broker(workdir) as bootstrap:
            kafka = measure("kafka", sizes, workdir, bootstrap, budget_s=budget_s)
    except Exception as error:
        kafka = failed(NAME, "end_to_end.kafka", "localfaas run, Kafka on Tansu", error)
    return [embedded, kafka]
