"""Cold start as a Lambda pays it: a fresh interpreter's init plus its first invocation.

What a cold start costs the caller is init and the first invoke together: work a handler defers
out of module scope (a lazy import, a model built on first use, a client made on first call) lands
in the first invocation, so a saving at init counts only if this figure shows it too. Each run is a
new interpreter with the function's environment (as cold_start gives it), its AWS calls answered by
moto's server in this process (localfaas.backend.MotoBackend, reached through `AWS_ENDPOINT_URL`),
the template's resources provisioned afresh before every run so that the first invocation does the
first-time work (no idempotency record, no stored account, a new read-model file). The invocation
is the function's own sample event from events/<function>/ (the first that is not a mixed batch).
The baseline is `import boto3` plus a no-op handler called with the same event and context.
Both figures include the time moto's server takes to answer, which a deployed function waits for
AWS instead (a few ms a call here).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from localfaas.backend import MotoBackend
from localfaas.template import FunctionSpec
from tests.bench import handlers
from tests.bench.harness import Figure, Series, Sizes, Target, compared
from tests.support.stack import EVENTS, provision_stack

NAME = "cold_start"
# Issue 15, target 4: init and first call within 1.8x of `import boto3` and a no-op.
TARGET = Target.ratio_at_most(1.8)
BASELINE = "fresh interpreter: import boto3, then a no-op handler"
# The least a Lambda context carries for Powertools' Logger and idempotency (defined inline: importing
# localfaas here would load modules before the clock starts). The scripts print the handler's answer
# (JSON), then the ns of init and of init plus the first call.
_CONTEXT = """
class Context:
    function_name = sys.argv[3]; function_version = "$LATEST"; memory_limit_in_mb = 128
    invoked_function_arn = f"arn:aws:lambda:{os.environ['AWS_REGION']}:123456789012:function:{sys.argv[3]}"
    aws_request_id = "c0ffee00-0000-4000-8000-000000000001"; log_group_name = "/aws/lambda/x"
    log_stream_name = "x"
    def get_remaining_time_in_millis(self): return 60_000
"""
_INIT_AND_INVOKE = (
    """
import json, os, sys, time
start = time.perf_counter_ns()
sys.path[:0] = sys.argv[4:]  # code, then layers, before site-packages (cold_start)
import importlib; module = importlib.import_module(sys.argv[1])
inited = time.perf_counter_ns()
"""
    + _CONTEXT
    + """
result = getattr(module, sys.argv[2])(json.loads(sys.stdin.read()), Context())
done = time.perf_counter_ns()
print(json.dumps(result, default=str))
print(inited - start, done - start)
"""
)
_BOTO3_AND_NO_OP = (
    """
import json, os, sys, time
start = time.perf_counter_ns()
import boto3
inited = time.perf_counter_ns()
"""
    + _CONTEXT
    + """
def no_op(event, context): return None
result = no_op(json.loads(sys.stdin.read()), Context())
done = time.perf_counter_ns()
print(json.dumps(result))
print(inited - start, done - start)
"""
)


def unmeasurable(function: FunctionSpec) -> str | None:
    """Why the first call cannot be measured here, if it cannot: moto answers AWS, nothing else."""
    if "KAFKA_BOOTSTRAP_SERVERS" in function.environment:
        return "its first call produces to Kafka, and this benchmark runs no broker"
    if not any((EVENTS / function.code_dir.name).glob("*.json")):
        return f"no sample event in events/{function.code_dir.name}"
    return None


def sample_event(function: FunctionSpec) -> Path:
    folder = EVENTS / function.code_dir.name
    samples = sorted(p for p in folder.glob("*.json") if "mixed" not in p.name)
    if not samples:
        raise LookupError(f"no sample event in {folder}")
    return samples[0]


def _commands(function: FunctionSpec) -> tuple[list[str], list[str]]:
    module, attribute = function.handler.rsplit(".", 1)
    dirs = [str(function.code_dir), *map(str, function.layer_dirs)]
    handler = [sys.executable, "-c", _INIT_AND_INVOKE, module, attribute, function.function_name, *dirs]
    return handler, [sys.executable, "-c", _BOTO3_AND_NO_OP, "-", "-", function.function_name]


def _run(command: list[str], env: dict[str, str], cwd: Path, event: str) -> tuple[int, int]:
    done = subprocess.run(command, env=env, cwd=cwd, input=event, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"exit {done.returncode}: {done.stderr.strip()[-800:]}")
    *_, result, timings = done.stdout.strip().splitlines()
    answer = json.loads(result) if result.startswith("{") else {}
    # A failed record's or request's path is not the cold start this figure names.
    if failures := answer.get("batchItemFailures"):
        raise RuntimeError(f"the first invocation failed {len(failures)} record(s): {failures}")
    if isinstance(status := answer.get("statusCode"), int) and status >= 400:
        raise RuntimeError(f"the first invocation answered HTTP {status}")
    init_ns, total_ns = timings.split()
    return int(init_ns), int(total_ns)


def measure(function: FunctionSpec, sizes: Sizes, workdir: Path) -> Figure:
    """The figure's context also holds the handler's init median and, as the difference of the two
    medians, its first call's."""
    sample = sample_event(function)
    event = sample.read_text()
    handler_cmd, baseline_cmd = _commands(function)
    cwd = function.code_dir
    runs: dict[str, list[int]] = {"handler": [], "init": [], "baseline": []}
    backend = MotoBackend().start()
    try:
        for number in range(sizes.cold_start_runs + 1):  # the first warms the bytecode caches
            backend.reset()
            aws = {**handlers.FAKE_AWS, "AWS_ENDPOINT_URL": backend.endpoint_url}
            with handlers.environment(aws):
                provision_stack(handlers.stack())
            # A workdir per run: a read model's SQLite file is new for every first invocation.
            env = {**handlers.process_environment(function, workdir / f"run-{number}"), **aws}
            order = [("baseline", baseline_cmd), ("handler", handler_cmd)][:: -1 if number % 2 else 1]
            for name, command in order:
                init_ns, total_ns = _run(command, env, cwd, event)
                if number:
                    runs[name].append(total_ns)
                    if name == "handler":
                        runs["init"].append(init_ns)
    finally:
        backend.stop()
    init, total = Series(tuple(runs["init"])), Series(tuple(runs["handler"]))
    return compared(
        NAME,
        f"cold_start.{function.logical_id}.first_invoke",
        f"{function.logical_id}: fresh interpreter initialises the handler and runs its first invocation",
        subject=total,
        baseline=Series(tuple(runs["baseline"])),
        baseline_name=BASELINE,
        per=1,
        unit="ms",
        item="start",
        target=TARGET,
        context={
            "init_ms": round(init.median_ns / 1e6, 1),
            "first_invoke_ms": round((total.median_ns - init.median_ns) / 1e6, 1),
            "sample_event": str(sample.relative_to(EVENTS.parent)),
            "aws": "moto server in the benchmark's process",
        },
    )


if __name__ == "__main__":  # one function: python -m tests.bench.cold_invoke CreateAccount
    import tempfile

    from tests.bench.harness import QUICK

    spec = handlers.stack().function(sys.argv[1])
    print(json.dumps(measure(spec, QUICK, Path(tempfile.mkdtemp())).as_json(), indent=2, ensure_ascii=False))
