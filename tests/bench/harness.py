"""Timing, figures and profiles shared by the benchmarks.

Every figure is a ratio against a baseline timed in the same process on the same data, the two
interleaved run by run (B S S B B S ...), so drift on a shared machine (another process, CPU
frequency, a noisy neighbour) lands on both sides; the absolute value is given for context.
Runs are timed with time.perf_counter_ns, summarised by their median and spread (min, quartiles,
max), after warm-up runs that are not counted. Nothing here asserts on time: a figure that misses
its target is reported, never raised.
"""

from __future__ import annotations

import multiprocessing
import statistics
import subprocess
import sys
import sysconfig
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
_NS_PER = {"ns": 1, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000}


@dataclass(frozen=True)
class Sizes:
    """How much work each benchmark does: FULL for `make bench`, QUICK for CI, TINY for the smoke test."""

    batch_records: int
    batch_runs: int
    batch_moto_records: int
    cold_start_runs: int
    invoke_calls: int
    invoke_runs: int
    end_to_end_runs: int
    replay_events: int
    replay_runs: int
    durability_runs: int  # business days each side (durable store on disk, then in memory)
    durability_records: int = 0  # the first N records of each topic only (0: the whole day)
    backends_runs: int = 0  # business days each side (LocalStack, then moto); 0: not run
    invoke_command_runs: int = 1  # `localfaas invoke` processes, and as many of python-lambda-local
    profile: bool = True  # profile the figures that miss their targets
    functions: tuple[str, ...] = ()  # limit batch and cold start to these functions (empty: all)
    # This machine's yardstick (measure_yardstick), set when a run starts: the budgets scale with it.
    yardstick_ms: float = 0.0

    def budget_s(self, reference_s: float) -> float:
        """A time budget set on the BENCHMARKS.md machine, scaled to this one: a machine that imports
        boto3 1.6x slower gets 1.6x the time (never less than the reference)."""
        return reference_s * self.slowdown

    @property
    def slowdown(self) -> float:
        """How many times slower than the BENCHMARKS.md machine this one is, by the yardstick (>= 1)."""
        return max(1.0, self.yardstick_ms / REFERENCE_YARDSTICK_MS)

    def budget_note(self) -> str:
        return (
            f"budgets x{self.slowdown:.2f}: import boto3 took {self.yardstick_ms:.0f} ms here, "
            f"{REFERENCE_YARDSTICK_MS:.0f} ms on the BENCHMARKS.md machine"
        )


# The yardstick: a fresh interpreter's `import boto3`, timed inside it (what cold_start's baseline
# times). On the machine BENCHMARKS.md was made on it took 129.5 ms (the median of the cold-start
# baselines in bench/results.json at commit 8db40a2); budgets are set in that machine's seconds.
REFERENCE_YARDSTICK_MS = 129.5
IMPORT_BOTO3 = """
import time
start = time.perf_counter_ns()
import boto3
print(time.perf_counter_ns() - start)
"""


def measure_yardstick(runs: int = 5) -> float:
    """The median, in ms, of `runs` fresh interpreters importing boto3 (one more, first, warms the
    bytecode caches and is not counted)."""
    samples = []
    for _ in range(runs + 1):
        done = subprocess.run(
            [sys.executable, "-c", IMPORT_BOTO3], capture_output=True, text=True, check=True
        )
        samples.append(int(done.stdout.strip().splitlines()[-1]))
    return statistics.median(samples[1:]) / 1e6


FULL = Sizes(
    batch_records=10_000,
    batch_runs=5,
    # moto's SQS send_message scans the queue (91% of a 10,000-record AssembleOrder batch at ~150 ms a
    # record by its end): 10,000 records under moto measure moto's quadratic queue, not the handler.
    batch_moto_records=1_000,
    cold_start_runs=10,
    invoke_calls=2_000,
    invoke_runs=7,
    end_to_end_runs=1,
    replay_events=1_000_000,
    replay_runs=1,
    durability_runs=3,
    backends_runs=2,
    invoke_command_runs=21,
)
# CI-sized, yet each figure the same work as the full run's (the same batch sizes, calls per run and
# business day), so quick and full figures compare; only the repetitions are fewer, and no profiles.
# Quick figures used to be of 500-record batches and two cold starts: up to 1.8x from run to run.
QUICK = Sizes(
    batch_records=FULL.batch_records,
    batch_runs=3,
    batch_moto_records=FULL.batch_moto_records,
    cold_start_runs=5,
    invoke_calls=FULL.invoke_calls,
    invoke_runs=5,
    end_to_end_runs=1,
    replay_events=20_000,  # the one smaller input (a million in the full run); its figure says how many
    replay_runs=1,
    durability_runs=0,  # a day is 30 s to a minute: three (warm-up, one each side) are past CI's size
    # A process per run, noisier than a batch of calls: 11 a side here, 21 in the full run.
    invoke_command_runs=11,
    profile=False,  # the figures only; `make bench` profiles the misses
)
TINY = Sizes(
    batch_records=20,
    batch_runs=2,
    batch_moto_records=10,
    cold_start_runs=1,
    invoke_calls=10,
    invoke_runs=2,
    end_to_end_runs=1,
    replay_events=200,
    replay_runs=1,
    durability_runs=1,
    durability_records=6,
    profile=False,
    functions=("CreateAccount",),
)


class OverBudget(RuntimeError):
    """The work had not finished within its budget."""


def in_child(budget_s: float, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """work(*args, **kwargs) in a fresh interpreter (multiprocessing's spawn), and its result; or
    OverBudget once `budget_s` has passed, the child killed: a run that never settles leaves nothing
    behind holding the CPU while the next benchmarks are timed. `work` and its arguments are pickled."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(sender, work, args, kwargs), daemon=True)
    child.start()
    sender.close()
    try:
        if not receiver.poll(budget_s):
            raise OverBudget(f"had not settled after {budget_s:.0f} s")
        succeeded, value = receiver.recv()
    except EOFError:
        raise RuntimeError(f"the benchmark's process ended with exit code {child.exitcode}") from None
    finally:
        if child.is_alive():
            child.kill()
        child.join()
    if not succeeded:
        raise RuntimeError(value)
    return value


def within_budget(budget_s: float, work: Callable[[], T]) -> T:
    """work()'s result, or OverBudget when it has not returned within `budget_s`. For work that must
    run in this process (a figure of an in-process stack): it runs on in a daemon thread, which cannot
    be stopped from outside; in_child is the one to use where the work can be pickled."""
    box: list[Any] = []
    thread = threading.Thread(target=lambda: box.append(work()), name="bench-in-process", daemon=True)
    thread.start()
    thread.join(budget_s)
    if not box:
        raise OverBudget(f"the scenario had not settled after {budget_s:.0f} s")
    return box[0]


def _child(sender: Any, work: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    try:
        result = (True, work(*args, **kwargs))
    except BaseException as error:  # the parent reports it as the figure's reason
        result = (False, f"{type(error).__name__}: {error}")
    sender.send(result)


# ---- timing ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """The timings of repeated runs of one piece of work, in nanoseconds."""

    samples_ns: tuple[int, ...]

    @property
    def median_ns(self) -> float:
        return statistics.median(self.samples_ns)

    def spread(self, per: int, unit: str) -> dict[str, Any]:
        """min, quartiles and max of the runs, per item, in `unit` (a time unit: ns, µs, ms, s)."""
        scale = per * _NS_PER[unit]
        ordered = sorted(self.samples_ns)
        q1, _, q3 = statistics.quantiles(ordered, n=4) if len(ordered) > 1 else (ordered[0],) * 3
        return {
            "min": ordered[0] / scale,
            "q1": q1 / scale,
            "q3": q3 / scale,
            "max": ordered[-1] / scale,
            "runs": len(ordered),
        }


def time_once(work: Callable[[], object]) -> int:
    start = time.perf_counter_ns()
    work()
    return time.perf_counter_ns() - start


def interleaved(
    subject: Callable[[], object], baseline: Callable[[], object], *, runs: int, warmup: int = 1
) -> tuple[Series, Series]:
    """Time `subject` and `baseline` alternately, `runs` times each, after `warmup` uncounted runs.

    The order flips every round (B S, S B, ...) so neither side always runs second, on a warmer cache.
    """
    for _ in range(warmup):
        baseline()
        subject()
    subject_ns, baseline_ns = [], []
    for round_ in range(runs):
        if round_ % 2:
            subject_ns.append(time_once(subject))
            baseline_ns.append(time_once(baseline))
        else:
            baseline_ns.append(time_once(baseline))
            subject_ns.append(time_once(subject))
    return Series(tuple(subject_ns)), Series(tuple(baseline_ns))


def repeated(work: Callable[[], object], *, runs: int, warmup: int = 1) -> Series:
    for _ in range(warmup):
        work()
    return Series(tuple(time_once(work) for _ in range(runs)))


# ---- figures ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What a figure must reach: a ratio to its baseline at most `limit`, or a value at most `limit`."""

    kind: str  # "ratio_max" | "value_max" | "overhead_max"
    limit: float
    text: str

    @classmethod
    def ratio_at_most(cls, limit: float) -> Target:
        return cls("ratio_max", limit, f"within {limit:g}x of the baseline")

    @classmethod
    def value_below(cls, limit: float, unit: str) -> Target:
        return cls("value_max", limit, f"under {limit:g} {unit}")

    @classmethod
    def overhead_below(cls, limit: float, unit: str) -> Target:
        """The value less its baseline's (what the subject adds to the same work) under `limit`."""
        return cls("overhead_max", limit, f"under {limit:g} {unit} over the baseline")

    def met_by(self, value: float, ratio: float | None) -> bool:
        if self.kind == "overhead_max":
            return bool(ratio) and value - value / ratio <= self.limit  # type: ignore[operator]
        measured = ratio if self.kind == "ratio_max" else value
        return measured is not None and measured <= self.limit


@dataclass
class Figure:
    """One measured (or pending) figure, as it goes into bench/results.json."""

    benchmark: str
    name: str
    description: str
    status: str = "measured"  # "measured" | "pending" | "error"
    value: float | None = None
    unit: str = ""
    spread: dict[str, Any] | None = None
    baseline: dict[str, Any] | None = None
    ratio: float | None = None
    target: dict[str, Any] | None = None
    met: bool | None = None
    context: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, list[dict[str, Any]]] | None = None
    bound: str | None = None  # what bounds the figure, for a miss (written after profiling it)
    reason: str | None = None  # why a figure is pending or failed

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def compared(
    benchmark: str,
    name: str,
    description: str,
    *,
    subject: Series,
    baseline: Series,
    baseline_name: str,
    per: int,
    unit: str,
    item: str,
    target: Target | None = None,
    context: dict[str, Any] | None = None,
) -> Figure:
    """A figure from interleaved series: value per `item` in `unit`, and its ratio to the baseline."""
    scale = per * _NS_PER[unit]
    value = subject.median_ns / scale
    base = baseline.median_ns / scale
    ratio = subject.median_ns / baseline.median_ns if baseline.median_ns else None
    return Figure(
        benchmark=benchmark,
        name=name,
        description=description,
        value=value,
        unit=f"{unit}/{item}",
        spread=subject.spread(per, unit),
        baseline={
            "name": baseline_name,
            "value": base,
            "unit": f"{unit}/{item}",
            **_spread(baseline, per, unit),
        },
        ratio=ratio,
        target=None if target is None else asdict(target),
        met=None if target is None else target.met_by(value, ratio),
        context=dict(context or {}),
    )


def _spread(series: Series, per: int, unit: str) -> dict[str, Any]:
    return {"spread": series.spread(per, unit)}


def pending(benchmark: str, name: str, description: str, reason: str, target: Target | None = None) -> Figure:
    """A figure that cannot be measured yet: said so, with no number."""
    return Figure(
        benchmark,
        name,
        description,
        status="pending",
        target=None if target is None else asdict(target),
        reason=reason,
    )


def failed(benchmark: str, name: str, description: str, error: BaseException) -> Figure:
    return Figure(
        benchmark, name, description, status="error", reason=f"{type(error).__name__}: {error}"[:500]
    )


def missed(figure: Figure) -> bool:
    return figure.status == "measured" and figure.met is False


# ---- profiles --------------------------------------------------------------------------------------


def _profiled(work: Callable[[], object], *, interval_s: float) -> Any:
    """Run `work` under pyinstrument; the root of its call tree (None when nothing was sampled)."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=interval_s)
    profiler.start()
    try:
        work()
    finally:
        session = profiler.stop()
    return session.root_frame()


def profile_top_frames(work: Callable[[], object], *, top: int = 8) -> dict[str, list[dict[str, Any]]]:
    """Run `work` under pyinstrument; where the time goes, largest first.

    "functions": self time summed per function over the whole call tree (a function reached by
    several paths counts once, with what it spends outside its callees); "packages": the same self
    time summed per package (site-packages distribution, stdlib module, or this repo's folder).
    """
    root = _profiled(work, interval_s=0.0005)
    if root is None:
        return {"functions": [], "packages": []}
    total = root.time or 1e-12
    by_function: dict[tuple[str, str, int], float] = defaultdict(float)
    by_package: dict[str, float] = defaultdict(float)
    stack = [root]
    while stack:
        frame = stack.pop()
        stack.extend(frame.children)
        if frame.is_synthetic or frame.total_self_time <= 0:
            continue  # pyinstrument keeps self time in synthetic "[self]" children, summed here
        by_function[(frame.function, frame.file_path_short or "", frame.line_no or 0)] += (
            frame.total_self_time
        )
        by_package[_package(frame.file_path or "")] += frame.total_self_time

    def ranked(times: dict[Any, float]) -> list[tuple[Any, float]]:
        return sorted(times.items(), key=lambda kv: kv[1], reverse=True)[:top]

    return {
        "functions": [
            {"function": fn, "file": f"{path}:{line}", "self_pct": round(100 * own / total, 1)}
            for (fn, path, line), own in ranked(by_function)
        ],
        "packages": [
            {"package": name, "self_pct": round(100 * own / total, 1)} for name, own in ranked(by_package)
        ],
    }


def profile_shares(
    work: Callable[[], object], layers: dict[str, tuple[str, ...]], *, absorbing: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """Run `work` under pyinstrument; the share of its time spent in each layer, callees included.

    `layers` maps a label to package prefixes (as `_package` names them). Time goes to the innermost
    layer on the stack (a Powertools frame calling our record handler: the handler's work is ours),
    except below an `absorbing` layer, which keeps all its callees' time (moto parses requests
    with botocore: that is moto's time). Frames of no layer (stdlib, builtins) go to their caller's
    layer; what no layer claims at all is "the rest".
    """
    root = _profiled(work, interval_s=0.001)
    total = (root.time if root is not None else 0) or 1e-12
    claimed: dict[str, float] = dict.fromkeys(layers, 0.0)

    def layer_of(frame: Any) -> str | None:
        package = _package(frame.file_path or "")
        return next((label for label, prefixes in layers.items() if package.startswith(prefixes)), None)

    stack: list[tuple[Any, str | None]] = [(root, None)] if root is not None else []
    while stack:
        frame, current = stack.pop()
        if current not in absorbing:
            current = layer_of(frame) or current
        # A frame's total_self_time already holds its synthetic "[self]" children's: count it once.
        if current is not None and not frame.is_synthetic:
            claimed[current] += frame.total_self_time
        stack.extend((child, current) for child in frame.children)
    shares = [{"layer": label, "pct": round(100 * claimed[label] / total, 1)} for label in layers]
    rest = max(0.0, 100 - sum(share["pct"] for share in shares))
    return [*shares, {"layer": "the rest", "pct": round(rest, 1)}]


_REPO = str(Path(__file__).resolve().parents[2])
_STDLIB = sysconfig.get_paths()["stdlib"]


def _package(path: str) -> str:
    """Who a frame's file belongs to: a site-packages distribution, a stdlib module, or a repo folder."""
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if path.startswith(_REPO):
        parts = Path(path).relative_to(_REPO).parts
        return "/".join(parts[:3] if parts[0] in ("functions", "infra") else parts[:2])
    if path.startswith(_STDLIB):
        return "stdlib: " + Path(path).relative_to(_STDLIB).parts[0].removesuffix(".py")
    return path or "<built-in>"
