"""Cold start: a fresh interpreter importing and initialising each handler, against bare `import boto3`.

Each run is a new `python` process (this virtualenv's) with the function's environment as
localfaas gives it (localfaas.runtime.lambda_environment: the template's variables, Lambda's
reserved ones, fake credentials). It imports the handler module the way the Lambda Python runtime
does (its CodeUri folder first on sys.path, the layer's folder after it) and reports the time the
import took, module-scope initialisation included (clients, Logger, processor); the baseline
process does only `import boto3`. Both exclude interpreter start-up, the same for both.
Handlers make their clients at module scope; creating a client resolves credentials and loads the
service model but opens no connection, so no AWS (nor moto) is needed. Bytecode caches are warm,
as on Lambda's second cold start of a deployed package, since a warm-up run precedes the timed ones.
The heaviest imports come from one more run under `python -X importtime`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from localfaas.template import FunctionSpec
from tests.bench import cold_invoke, handlers
from tests.bench.harness import IMPORT_BOTO3, Figure, Series, Sizes, compared, failed, pending

NAME = "cold_start"
TARGET = cold_invoke.TARGET  # issue 15, target 4: 1.8x
BASELINE = "fresh interpreter: import boto3"
# Prints how long, in ns, importing the handler module took (argv: module, then sys.path entries).
# The code folder, then the layers' folders, go before the interpreter's site-packages, as in
# Lambda's Python runtime (/var/task, /opt/python..., then /var/lang/lib/python3.x/site-packages:
# "Working with layers for Python Lambda functions", https://docs.aws.amazon.com/lambda/latest/dg/
# python-layers.html) and localfaas.runtime: after them, an installed copy of the layer (this
# virtualenv's editable storefront) would be imported instead of the function's own.
_IMPORT_HANDLER = """
import sys, time
start = time.perf_counter_ns()
sys.path[:0] = sys.argv[2:]
import importlib; importlib.import_module(sys.argv[1])
print(time.perf_counter_ns() - start)
"""
BOUNDS = {
    "cold_start": (
        "The baseline is itself the largest part: every handler imports boto3. On top of it, for the "
        "Kafka handlers (CreateAccount; CPU time, medians of 9 fresh interpreters, boto3 160-175 ms): "
        "Powertools' batch utility, about 45 ms (its package imports every event data class, 30); "
        "pydantic's import, about 55 ms; the event models' classes, about 30 ms even unbuilt (field "
        "collection); the first boto3 client, 85-115 ms (botocore lists every service's data folder "
        "for each model type it loads, about 28 ms, parses the endpoints, model and rule set JSON, "
        "about 24, and registers its session handlers, 13: the next client costs 6 ms); a DynamoDB "
        "resource, about 30 ms. That is 2.5-2.9x; 1.8x would leave 0.8x boto3 (about 130 ms) for all "
        "of it, which is less than pydantic and Powertools' batch utility take before any module "
        "scope: not reachable with the chosen libraries. Done: the idempotency store shares boto3's "
        "default session (about 0.2 s); lambda_glue imports neither data masking (jsonpath_ng, about "
        "20 ms) nor, at run time, Powertools' event data classes (about 11 ms for the EventBridge "
        "handlers); the event models are built on first use (defer_build) and parse_event validates "
        "a known type with its own class, so a handler builds the two or three models it uses, not "
        "the catalogue and the union: import, first parse and one announcement serialized 50 -> 37 "
        "ms (through the union parse it would save only 6, the union building every model). Kept as "
        "it is: each handler imports Powertools' batch utility before anything imports pydantic; "
        "the other order makes Powertools build its parser models for type hints (batch/types.py, "
        "`has_pydantic`), 40-80 ms more. Deferring the clients would only move their cost into the "
        "first invocation (the first_invoke figure)."
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
        "interleaved A/B runs. Without SQLAlchemy Core, which the design chooses for the read model, "
        "it would start like the other handlers."
    ),
}


def _handler_command(function: FunctionSpec) -> list[str]:
    module = function.handler.rsplit(".", 1)[0]
    dirs = [str(function.code_dir), *map(str, function.layer_dirs)]
    return [sys.executable, "-c", _IMPORT_HANDLER, module, *dirs]


def _run_ns(command: list[str], env: dict[str, str], cwd: Path) -> int:
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"exit {done.returncode}: {done.stderr.strip()[-800:]}")
    return int(done.stdout.strip().splitlines()[-1])


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
    printed = done.stdout.strip().splitlines()
    return entries, int(printed[-1]) // 1000 if printed and printed[-1].isdigit() else 0


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
    baseline_cmd = [sys.executable, "-c", IMPORT_BOTO3]
    runs: dict[str, list[int]] = {"handler": [], "boto3": []}
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
        subject=Series(tuple(runs["handler"])),
        baseline=Series(tuple(runs["boto3"])),
        baseline_name=BASELINE,
        per=1,
        unit="ms",
        item="start",
        target=TARGET,
    )
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
