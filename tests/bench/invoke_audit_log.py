"""`localfaas invoke` of a real handler, AuditLog, beside python-lambda-local running the same one.

AuditLog (functions/audit_log) on one bus event (events/audit_log/account-created.json): it imports
Powertools and the storefront layer, logs the event masked and archives it to S3 (one PutObject).
Both commands reach the same moto server, started in this process with the template's resources
provisioned under localfaas's names (python-lambda-local has no backend of its own): localfaas
through `--endpoint-url`, the peer through AWS_ENDPOINT_URL and the function's variables as the
template sets them, its layer as `--library`. A process per call each side, interleaved, after one
uncounted warm-up each (as invoke.command). No target: issue 15 sets the 1.3x on a no-op; this
says what a handler's own imports and calls leave of the difference. The figure's context also
gives the default, `localfaas invoke AuditLog` with nothing up (a stack started on the function's
first AWS call, localfaas.on_demand), as the median of a few processes.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from tests.bench.harness import Figure, Sizes, compared, failed, pending, time_once
from tests.bench.invoke_command import SCRIPTS, call, environment, interleaved_processes, unavailable
from tests.support.stack import EVENTS, REGION, ROOT, TEMPLATE, provision_stack

# Measured here (2 cores shared by 8 sessions), medians of 5 and 11 processes a side: 786 ms against the
# peer's 683 ms (1.15x), and 2,002 against 1,648 (1.21x) in a `--quick --only invoke` run on a machine
# 3x slower by the yardstick; the default, a stack started on the first S3 call, 3.2 s and 7.3 s:
# the stack's start (moto's import and server, provisioning the whole template over HTTP, each service
# first imported by moto on its first call) is what is left, and a subset provisioned for the one
# function (what its role and variables reach) is the next cut.
NAME = "invoke"
FIGURE = "invoke.command_audit_log"
DESCRIPTION = "`localfaas invoke AuditLog` of one bus event from a shell, a process per call, on moto"
BASELINE = "python-lambda-local 0.1.13, the same handler, event and moto server, a process per call"
EVENT = EVENTS / "audit_log" / "account-created.json"
DEFAULT_RUNS = 3  # the default's processes (each starts a stack on its first call: seconds)


def measure(sizes: Sizes, workdir: Path) -> Figure:
    from localfaas.backend import MotoBackend
    from localfaas.template import load_stack
    from tests.bench import handlers

    stack = load_stack(TEMPLATE, region=REGION)  # localfaas's own names, as `localfaas invoke` has them
    function = stack.function("AuditLog")
    module, attribute = function.handler.rsplit(".", 1)
    backend = MotoBackend().start()
    try:
        aws = {**handlers.FAKE_AWS, "AWS_ENDPOINT_URL": backend.endpoint_url}
        with handlers.environment(aws):
            provision_stack(stack)
        variables = handlers.function_environment(stack, function.logical_id, workdir / "audit-log")
        env = {**environment(workdir / "audit-log" / "cache"), **variables, **aws}
        command = [str(SCRIPTS / "localfaas"), "invoke", "AuditLog", "--event", str(EVENT), "--skip-build"]
        command += ["--endpoints-file", str(workdir / "no-up.json")]  # never another session's `up`
        localfaas = [*command, "--endpoint-url", backend.endpoint_url]
        peer = [str(SCRIPTS / "python-lambda-local"), "-f", attribute, "-t", "30"]
        peer += [*(["-l", str(function.layer_dirs[0])] if function.layer_dirs else [])]
        peer += [str(function.code_dir / f"{module}.py"), str(EVENT)]
        subject, baseline = interleaved_processes(localfaas, peer, ROOT, env, sizes.invoke_command_runs)
    finally:
        backend.stop()
    # The default needs no server of ours: the command starts its own stack on the first S3 call.
    alone_env = environment(workdir / "audit-log" / "cache")
    runs = min(DEFAULT_RUNS, sizes.invoke_command_runs)
    alone = [time_once(lambda: call(command, ROOT, alone_env)) for _ in range(runs)]
    return compared(
        NAME,
        FIGURE,
        DESCRIPTION,
        subject=subject,
        baseline=baseline,
        baseline_name=BASELINE,
        per=1,
        unit="ms",
        item="call",
        context={
            "event": str(EVENT.relative_to(EVENTS.parent)),
            "runtime": "worker (the default)",
            "backend": "a moto server of the benchmark's, reached with --endpoint-url",
            "default_ms": round(statistics.median(alone) / 1e6, 1),
            "default": "`localfaas invoke AuditLog` with nothing up: a stack started on the first AWS call",
            "default_runs": len(alone),
        },
    )


def run(sizes: Sizes, workdir: Path) -> list[Figure]:
    why_not = unavailable()
    if why_not is not None:
        return [pending(NAME, FIGURE, DESCRIPTION, why_not)]
    try:
        return [measure(sizes, workdir)]
    except Exception as error:
        return [failed(NAME, FIGURE, DESCRIPTION, error)]
