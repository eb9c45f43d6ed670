"""Cold start: a fresh interpreter importing and initialising each handler, against bare `import boto3`.

Each run is a new `python` process (this virtualenv's) with the function's environment as
localfaas gives it (localfaas.runtime.lambda_environment: the template's variables, Lambda's
reserved ones, fake credentials). It imports the handler module the way the Lambda Python runtime
does (its CodeUri folder first on sys.path, the layer's folder after it, both before site-packages)
and reports the time the import took, module-scope initialisation included (clients, Logger,
processor); the baseline process does only `import boto3`. Both exclude interpreter start-up, the
same for both. The figure is the wall clock; the same runs' CPU time is in its context, steadier on a
machine shared with other work. Handlers make their clients at module scope; creating a client
resolves credentials and loads the service model but opens no connection, so no AWS (nor moto) is
needed. A warm-up run precedes the timed ones; the installed packages have their bytecode caches,
and the layer's are written by it unless PYTHONDONTWRITEBYTECODE is set (then the layer is compiled
at each start, as on Lambda when the build ships no .pyc: /opt is read-only).
The heaviest imports come from one more run under `python -X importtime`.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

from localfaas.template import FunctionSpec
from tests.bench import cold_invoke, handlers
from tests.bench.harness import Figure, Series, Sizes, compared, failed, pending

NAME = "cold_start"
TARGET = cold_invoke.TARGET  # issue 15, target 4: 1.8x
BASELINE = "fresh interpreter: import boto3"
# Print how long, in ns, importing the handler module (or boto3) took, wall clock then the process's
# CPU time (argv: module, then sys.path entries). The figure is the wall clock, as Lambda bills init;
# the CPU time, in the figure's context, is what other processes on a shared machine disturb least.
# The code folder, then the layers' folders, go before the interpreter's site-packages, as in
# Lambda's Python runtime (/var/task, /opt/python..., then /var/lang/lib/python3.x/site-packages:
# "Working with layers for Python Lambda functions", https://docs.aws.amazon.com/lambda/latest/dg/
# python-layers.html) and localfaas.runtime: after them, an installed copy of the layer (this
# virtualenv's editable storefront) would be imported instead of the function's own.
_IMPORT_HANDLER = """
import sys, time
start, cpu = time.perf_counter_ns(), time.process_time_ns()
sys.path[:0] = sys.argv[2:]
import importlib; importlib.import_module(sys.argv[1])
print(time.perf_counter_ns() - start, time.process_time_ns() - cpu)
"""
_IMPORT_BOTO3 = """
import time
start, cpu = time.perf_counter_ns(), time.process_time_ns()
import boto3
print(time.perf_counter_ns() - start, time.process_time_ns() - cpu)
"""
BOUNDS = {
    "cold_start": (
        "The baseline is itself the largest part: every handler imports boto3. On top of it, for the "
        "Kafka handlers (CreateAccount; CPU time, medians of 7-9 fresh interpreters, boto3 110-120 ms): "
        "Powertools' batch utility, about 25 ms (its package imports every event data class and "
        "asyncio); pydantic's import, 46-48 ms (pydantic_core's schema types, the model machinery, "
        "annotated_types); the event models' classes, about 10 ms unbuilt (field collection; 2 of it "
        "compiling events.py: the layer has no bytecode cache here, as on Lambda's read-only /opt unless "
        "the build ships one; 6 ms for the 11 storefront modules a handler loads); the first events "
        "client and a DynamoDB resource, 32 ms (19 + 13; a plain DynamoDB client instead of the resource "
        "would save only 4); Powertools' idempotency and its store, about 10 (wall, one loaded run); the "
        "cyclic garbage collector, 21 ms of collections over the objects init allocates. That is 2.0-2.3x; "
        "1.8x would leave 0.8x boto3 (about 95 ms) for all of it, less than pydantic and Powertools' "
        "batch utility take before any module scope. Done: storefront's first import freezes the heap "
        "loaded before it (gc.freeze): collections during init 46 -> 21 ms (one full collection fewer). "
        "Measured, not taken: a botocore Loader of our own on boto3's default session (botocore lists "
        "about 450 service folders per model type to check a name, and reads JSON into OrderedDicts) "
        "took the first client and the resource from 85 to 49 ms CPU, but it overrides private botocore "
        "methods in code deployed against whatever botocore the Lambda runtime or the build brings. "
        "Done earlier: the idempotency store shares boto3's default session; lambda_glue imports neither data "
        "masking nor, at run time, Powertools' event data classes; the event models are built on first "
        "use (defer_build) and parse_event validates a known type with its own class. Left, for the "
        "handlers (app.py): no collection at all during init (gc.disable() before the imports, "
        "gc.freeze() and gc.enable() after module scope) measured 2.16 -> 2.01x for CreateAccount, "
        "2.05 -> 1.81x NotifySecurity, 2.13 -> 1.97x AuditLog; removing Powertools' idempotency takes "
        "its import and client with it. Kept as it is: each handler imports Powertools' batch utility "
        "before anything imports pydantic (the other order makes Powertools build its parser models, "
        "40-80 ms more). Deferring the clients or pydantic would only move their cost into the first "
        "invocation (the first_invoke figure). The front door's wall clock (RequestAccount, "
        "PostInventoryCount) is about 1 s more than its CPU time: confluent-kafka 2.13+ (2.16.1 in this "
        "virtualenv) waits in the Producer's constructor for the OAUTHBEARER token that MSK IAM "
        "authentication sets (confluent-kafka-python #2130, #2164); the functions' requirements pin "
        "2.4.0, which does not wait."
    ),
    "first_invoke": (
        "Init (see cold_start) plus the first call: for CreateAccount 60-80 ms, five AWS calls over "
        "HTTP (about a third of it waiting for moto's answer, which a deployed function waits for "
        "AWS instead), the two models the event needs built (about 11 ms, 4-7 of them pydantic "
        "scanning the installed distributions for plugins, which PYDANTIC_DISABLE_PLUGINS would "
        "skip: left, as it is deployment configuration), Powertools' idempotency record written "
        "twice. LockAccount's and ProjectSql's first calls are longer (150-200 ms in a quick run): "
        "LockAccount's sample is three denied attempts, the third locking the account; ProjectSql's "
        "first call creates the read model's schema and loads SQLite's dialect."
    ),
    "cold_start.ProjectSql": (
        "What bounds the other Kafka handlers (boto3, pydantic and the event models, Powertools), plus "
        "SQLAlchemy: importing it alone takes about as long as boto3 (150-160 ms CPU here; "
        "sqlalchemy.engine and its events system, the bulk of it), and the read model's tables are "
        "built on it at import (about 30 ms). Its module scope is small (3 ms: the engine connects "
        "on first use). Done: the read model no longer imports sqlalchemy.orm for one alias (Core's "
        "Table.alias, the same SQL), about 60 ms: the handler's import 3.7x -> 3.1-3.3x in two "
        "interleaved A/B runs. Importing a submodule (sqlalchemy.engine, sqlalchemy.sql) costs "
        "the same: the package's __init__ runs first and imports engine, sql, schema, pool and events. "
        "Without SQLAlchemy Core, which the design chooses for the read model, it would start like the "
        "other handlers."
    ),
}


def _handler_command(function: FunctionSpec) -> list[str]:
    module = function.handler.rsplit(".", 1)[0]
    dirs = [str(function.code_dir), *map(str, function.layer_dirs)]
    return [sys.executable, "-c", _IMPORT_HANDLER, module, *dirs]


def _run_ns(command: list[str], env: dict[str, str], cwd: Path) -> tuple[int, int]:
    """The wall-clock and CPU ns the command printed."""
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"exit {done.returncode}: {done.stderr.strip()[-800:]}")
    wall, cpu = done.stdout.strip().splitlines()[-1].split()
    return int(wall), int(cpu)


def _import_times(command: list[str], env: dict[str, str], cwd: Path) -> tuple[list[tuple[str, int]], int]:
    """(module, cumulative µs) of the first-level imports `python -X importtime` logs for `command`,
    and the µs the command itself printed (0 when it prints none)."""
    done = subprocess.run(
        [command[0], "-X", "importtime", *command[1:]],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    entries = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            _, cumulative, name = line.split("|")
            if cumulative.strip().isdigit() and not name[1:].startswith(" "):  # depth 0: no extra indent
                entries.append((name.strip(), int(cumulative)))
    printed = done.stdout.split()[-2:]  # wall-clock ns, CPU ns
    return entries, int(printed[0]) // 1000 if len(printed) == 2 and printed[0].isdigit() else 0


def import_profile(command: list[str], env: dict[str, str], cwd: Path, top: int = 5) -> dict:
    """The handler's own imports with the largest cumulative time (their imports included), leaving
    out what the interpreter imports at start-up whatever it runs (site, encodings...), and the time
    left for module scope (clients, Logger...). importlib.import_module, as Lambda's runtime uses,
    is not logged itself, so the handler's imports are the first level."""
    startup = {name for name, _ in _import_times([command[0], "-c", "pass"], env, cwd)[0]}
    logged, total_us = _import_times(command, env, cwd)
    entries = [(name, us) for name, us in logged if name not in startup]
    ranked = sorted(entries, key=lambda e: e[1], reverse=True)[:top]
    imports_us = sum(us for _, us in entries)
    return {
        "heaviest_imports": [{"module": name, "cumulative_ms": round(us / 1000, 1)} for name, us in ranked],
        "imports_ms": round(imports_us / 1000, 1),
        "module_scope_ms": round(max(total_us - imports_us, 0) / 1000, 1),
        "note": "from one run under -X importtime, which slows imports a little",
    }


def measure(function: FunctionSpec, sizes: Sizes, workdir: Path) -> Figure:
    env = handlers.process_environment(function, workdir)
    handler_cmd = _handler_command(function)
    baseline_cmd = [sys.executable, "-c", _IMPORT_BOTO3]
    runs: dict[str, list[tuple[int, int]]] = {"handler": [], "boto3": []}
    cwd = function.code_dir  # Lambda starts the runtime in the task root
    _run_ns(handler_cmd, env, cwd), _run_ns(baseline_cmd, env, cwd)  # warm the bytecode caches
    for round_ in range(sizes.cold_start_runs):
        order = (("boto3", baseline_cmd), ("handler", handler_cmd))
        for name, command in order[:: -1 if round_ % 2 else 1]:
            runs[name].append(_run_ns(command, env, cwd))
    figure = compared(
        NAME,
        f"cold_start.{function.logical_id}",
        f"{function.logical_id}: fresh interpreter imports and initialises the handler",
        subject=Series(tuple(wall for wall, _ in runs["handler"])),
        baseline=Series(tuple(wall for wall, _ in runs["boto3"])),
        baseline_name=BASELINE,
        per=1,
        unit="ms",
        item="start",
        target=TARGET,
    )
    cpu_ms = {name: statistics.median(cpu for _, cpu in series) / 1e6 for name, series in runs.items()}
    figure.context["cpu"] = {
        "ms": round(cpu_ms["handler"], 1),
        "baseline_ms": round(cpu_ms["boto3"], 1),
        "ratio": round(cpu_ms["handler"] / cpu_ms["boto3"], 2) if cpu_ms["boto3"] else None,
        "note": "medians of the same runs' process CPU time",
    }
    if sizes.profile:
        figure.context.update(import_profile(handler_cmd, env, cwd))
    return figure


def run(sizes: Sizes, workdir: Path) -> list[Figure]:
    figures = []
    for logical_id, function in handlers.stack().functions.items():
        if sizes.functions and logical_id not in sizes.functions:
            continue
        name = f"cold_start.{logical_id}"
        if handlers.is_placeholder(function):
            reason = "the handler has not landed yet (app.py still raises NotImplementedError)"
            figures.append(pending(NAME, name, f"{logical_id}: cold start", reason, TARGET))
            continue
        try:
            figures.append(measure(function, sizes, workdir))
        except Exception as error:
            figures.append(failed(NAME, name, f"{logical_id}: cold start", error))
        if (reason := cold_invoke.unmeasurable(function)) is not None:
            figures.append(
                pending(NAME, f"{name}.first_invoke", f"{logical_id}: cold start, first call", reason, TARGET)
            )
            continue
        try:
            figures.append(cold_invoke.measure(function, sizes, workdir / "first_invoke"))
        except Exception as error:
            figures.append(
                failed(NAME, f"{name}.first_invoke", f"{logical_id}: cold start, first call", error)
            )
    return figures


if __name__ == "__main__":  # a quick look at one function: python -m tests.bench.cold_start CreateAccount
    import tempfile

    from tests.bench.harness import QUICK

    spec = handlers.stack().function(sys.argv[1])
    print(json.dumps(measure(spec, QUICK, Path(tempfile.mkdtemp())).as_json(), indent=2, ensure_ascii=False))
