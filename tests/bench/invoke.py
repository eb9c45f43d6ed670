"""Invoke overhead: a warm localfaas invocation of a no-op handler, against calling it directly.

The no-op handler (`def handler(event, context): return None`) is written to a temporary CodeUri
folder and described by a localfaas FunctionSpec, then invoked through each runtime after one
cold invocation: InProcessRuntime (sandboxed modules, os.environ, cwd, logs, a context object,
START/END/REPORT lines) and WorkerProcessRuntime (a long-lived child process fed over a pipe).
The event is a real one-record MSK sample (events/create_account/account-requested.json), since
every invocation serialises its event. The direct call is the baseline. Targets: in-process, under
0.2 ms a call over the direct call (issue 15 item 3), with the host's environment as it is and
with 500 more variables in it (invoke.in_process_large_environ: the environment is switched on
every call); under 5 ms a call in a worker process.

The in-process runtime's cost used to grow with the modules loaded in the host process (it sets
aside the modules of other functions on every call), so this benchmark first imports what
`localfaas run` has loaded (its CLI, boto3, moto) and reports the module count.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from localfaas.runtime import InProcessRuntime, WorkerProcessRuntime
from localfaas.template import FunctionSpec
from tests.bench import invoke_audit_log, invoke_command
from tests.bench.harness import (
    Figure,
    Sizes,
    Target,
    compared,
    failed,
    interleaved,
    missed,
    profile_top_frames,
)
from tests.support.lambda_context import FakeLambdaContext
from tests.support.stack import sample_event

NAME = "invoke"
BASELINE = "direct Python call of the same handler"
NO_OP = "def handler(event, context):\n    return None\n"
IN_PROCESS = Target.overhead_below(0.2, "ms")
TARGETS = {
    "in_process": IN_PROCESS,
    "in_process_large_environ": IN_PROCESS,
    "worker_process": Target.value_below(5, "ms"),
}
DESCRIPTIONS = {
    "in_process": "localfaas in-process runtime: warm invoke of a no-op handler",
    "in_process_large_environ": "localfaas in-process runtime: warm invoke of a no-op handler, "
    "500 more variables in the host's environment",
    "worker_process": "localfaas worker-process runtime: warm invoke of a no-op handler",
}
LARGE_ENVIRON = 500  # variables added to the host's environment for invoke.in_process_large_environ
# Measured here (2 cores shared by 8 sessions: yardstick x2 to x4, so ratios, same run for each),
# warm no-op call, before -> after issue 15 item 3: in-process 0.44 ms (19.0x the direct call) ->
# 0.11 ms (6.8x); with 500 more variables 1.81 ms (80.4x) -> 0.10 ms (4.9x). Each piece, per call,
# at 670 host modules, 36 variables (500 more): sys.modules listed and diffed three times 41 us ->
# 2.3 us, now a (count, imports) mark; os.environ copied twice and switched by name, tzset twice,
# the root level set twice (each clearing every logger's cache), sys.path, cwd, streams: 96 us
# (1,034 us) -> 25 us (32 us), now two reference swaps, tzset only when TZ differs, the level only
# when it differs; the trace header's setenv 8 us (22 us, glibc walks the array) -> a slot write.
BOUNDS: dict[str, str] = {
    "in_process": "what is left per call: two tzset calls (the host's zone and the function's :UTC "
    "differ), three context managers, START/END/REPORT lines, the event's JSON round trip, uuid4 ids",
    "in_process_large_environ": "as invoke.in_process; nothing left grows with the environment, "
    "except a call after the function set a new name (its array is copied once)",
    "command": invoke_command.BOUND,
}


def no_op_function(workdir: Path) -> FunctionSpec:
    code = workdir / "noop"
    code.mkdir(parents=True, exist_ok=True)
    (code / "app.py").write_text(NO_OP)
    return FunctionSpec(
        logical_id="BenchNoOp",
        function_name="bench-noop",
        arn="arn:aws:lambda:us-east-1:123456789012:function:bench-noop",
        handler="app.handler",
        code_dir=code,
        timeout=30,
    )


def _load_direct(function: FunctionSpec) -> Any:
    namespace: dict[str, Any] = {}
    exec(compile((function.code_dir / "app.py").read_text(), "app.py", "exec"), namespace)
    return namespace["handler"]


def _host_like_localfaas_run() -> int:
    """Load what a `localfaas run` process has loaded; the number of modules the runtime then sees."""
    import boto3  # noqa: F401
    import moto  # noqa: F401

    import localfaas.cli  # noqa: F401

    return len(sys.modules)


def measure(kind: str, runtime: Any, function: FunctionSpec, sizes: Sizes) -> Figure:
    event = sample_event("create_account/account-requested.json")
    direct = _load_direct(function)
    context = FakeLambdaContext(function_name=function.function_name)
    calls = sizes.invoke_calls

    def through_runtime() -> None:
        for _ in range(calls):
            result = runtime.invoke(function, event)
            if not result.ok:
                raise RuntimeError(f"no-op invocation failed: {result.error}")

    def directly() -> None:
        for _ in range(calls):
            direct(json.loads(json.dumps(event)), context)  # Lambda hands the handler its own copy

    runtime.invoke(function, event)  # the cold start, not counted
    subject, baseline = interleaved(through_runtime, directly, runs=sizes.invoke_runs)
    figure = compared(
        NAME,
        f"invoke.{kind}",
        DESCRIPTIONS[kind],
        subject=subject,
        baseline=baseline,
        baseline_name=BASELINE,
        per=calls,
        unit="ms",
        item="call",
        target=TARGETS[kind],
        context={"calls_per_run": calls, "event_bytes": len(json.dumps(event))},
    )
    figure.context["overhead_ms_per_call"] = figure.value - figure.baseline["value"]  # type: ignore[index]
    if missed(figure) and sizes.profile:
        figure.profile = profile_top_frames(through_runtime)
    return figure


@contextmanager
def _larger_environ(variables: int) -> Iterator[int]:
    """The host's environment with `variables` more names in it; its size while in force."""
    added = {f"LOCALFAAS_BENCH_VARIABLE_{i}": "x" * 40 for i in range(variables)}
    os.environ.update(added)
    try:
        yield len(os.environ)
    finally:
        for name in added:
            os.environ.pop(name, None)


def run(sizes: Sizes, workdir: Path) -> list[Figure]:
    modules = _host_like_localfaas_run()
    function = no_op_function(workdir)
    figures = []
    kinds = (
        ("in_process", InProcessRuntime, 0),
        ("in_process_large_environ", InProcessRuntime, LARGE_ENVIRON),
        ("worker_process", WorkerProcessRuntime, 0),
    )
    for kind, make, extra in kinds:
        try:
            with _larger_environ(extra) as environ_size, make() as runtime:
                figure = measure(kind, runtime, function, sizes)
                figure.context["host_modules_loaded"] = modules
                figure.context["host_environ_variables"] = environ_size
                figures.append(figure)
        except Exception as error:
            figures.append(failed(NAME, f"invoke.{kind}", kind, error))
    figures += invoke_command.run(sizes, workdir)  # issue 15 item 2: a process per call, beside its peer
    figures += invoke_audit_log.run(sizes, workdir)
    return figures
