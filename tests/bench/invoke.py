"""Invoke overhead: a warm localfaas invocation of a no-op handler, against calling it directly.

The no-op handler (`def handler(event, context): return None`) is written to a temporary CodeUri
folder and described by a localfaas FunctionSpec, then invoked through each runtime after one
cold invocation: InProcessRuntime (sandboxed modules, os.environ, cwd, logs, a context object,
START/END/REPORT lines) and WorkerProcessRuntime (a long-lived child process fed over a pipe).
The event is a real one-record MSK sample (events/create_account/account-requested.json), since
every invocation serialises its event. Targets: under 1 ms a call in-process, under 5 ms in a
worker process. The direct call is the baseline for the ratio.

The in-process runtime's cost grows with the modules loaded in the host process (it sets aside
the modules of other functions on every call), so this benchmark first imports what
`localfaas run` has loaded (its CLI, boto3, moto) and reports the module count.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from localfaas.runtime import InProcessRuntime, WorkerProcessRuntime
from localfaas.template import FunctionSpec
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
TARGETS = {"in_process": Target.value_below(1, "ms"), "worker_process": Target.value_below(5, "ms")}
BOUNDS: dict[str, str] = {}


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
        f"localfaas {kind.replace('_', '-')} runtime: warm invoke of a no-op handler",
        subject=subject,
        baseline=baseline,
        baseline_name=BASELINE,
        per=calls,
        unit="ms",
        item="call",
        target=TARGETS[kind],
        context={"calls_per_run": calls, "event_bytes": len(json.dumps(event))},
    )
    if missed(figure) and sizes.profile:
        figure.profile = profile_top_frames(through_runtime)
    return figure


def run(sizes: Sizes, workdir: Path) -> list[Figure]:
    modules = _host_like_localfaas_run()
    function = no_op_function(workdir)
    figures = []
    for kind, make in (("in_process", InProcessRuntime), ("worker_process", WorkerProcessRuntime)):
        try:
            with make() as runtime:
                figure = measure(kind, runtime, function, sizes)
                figure.context["host_modules_loaded"] = modules
                figures.append(figure)
        except Exception as error:
            figures.append(failed(NAME, f"invoke.{kind}", kind, error))
    return figures
