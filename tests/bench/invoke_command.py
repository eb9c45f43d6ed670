"""`localfaas invoke` as a command, a process per call, beside python-lambda-local doing the same.

Issue 15, target 2: a one-off invocation of a no-op handler (`def handler(event, context): return
None`) from a shell, within 1.3x of python-lambda-local (0.1.13, the lightest peer: it loads the
handler's file and calls it in a forked child, with no template, build or AWS backend). Both run the
same handler on the same event (the one-record MSK sample, events/create_account/account-requested.json)
as their console scripts beside this interpreter, a fresh process each call, interleaved (B S, S B,
...) after one uncounted warm-up each, which also writes both sides' bytecode caches and fills
localfaas's translation cache (the state of a machine that has run the command before).
`localfaas invoke` runs as a user runs it with nothing else up: its default worker runtime, no build
(`--skip-build`: there is nothing to build), a stack started for the call, on moto, roles enforced.
The template declares the host's Python (`python3.X`), so no other interpreter is looked for.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.bench.harness import Figure, Series, Sizes, Target, compared, failed, pending, time_once
from tests.support.stack import EVENTS

# Measured here (2 cores shared by 8 sessions; medians of 5 to 11 processes a side, the same run each):
# before -> after issue 15 item 2, a no-op: 1,888 ms (8.7x the peer's 217 ms) -> 180 ms (0.89x its
# 203 ms), and 156 ms (1.02x its 154 ms) in a `--quick --only invoke` run. Where a 1.8 to 2.3 s call
# went before (pyinstrument, a template declaring python3.12): starting the stack 0.96 to 1.05 s
# (moto's import and server 0.39 s, the outbound tap's SNS and SES clients 0.36 s, the roles'
# managed policies from moto's IAM 0.12 s), stopping it 0.24 s, importing boto3 for a flag's default
# 0.15 to 0.25 s, finding python3.12 0.17 s. Now the stack starts on the function's first AWS call
# (localfaas.on_demand), boto3 is imported when a client is made, the template's parse is cached.
BOUND = (
    "a second interpreter: the function runs in a worker process started with its own environment "
    "(python-lambda-local forks the one it runs in); then the command's imports (argparse, runtime, "
    "template, role_enforcement for a flag's default) and the cached template's load"
)
NAME = "invoke"
FIGURE = "invoke.command"
DESCRIPTION = "`localfaas invoke` of a no-op handler from a shell, a process per call"
BASELINE = "python-lambda-local 0.1.13, the same handler and event, a process per call"
TARGET = Target.ratio_at_most(1.3)
EVENT = EVENTS / "create_account" / "account-requested.json"
NO_OP = "def handler(event, context):\n    return None\n"
TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  BenchNoOp:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: noop/
      Handler: app.handler
      Runtime: python{version}
      Timeout: 30
"""
SCRIPTS = Path(sys.executable).parent
_LOCALFAAS = Path(__file__).resolve().parents[2] / "infra" / "localfaas"


def _project(workdir: Path) -> Path:
    project = workdir / "invoke-command"
    (project / "noop").mkdir(parents=True, exist_ok=True)
    (project / "noop" / "app.py").write_text(NO_OP)
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    (project / "template.yaml").write_text(TEMPLATE.format(version=version))
    shutil.copyfile(EVENT, project / "event.json")
    return project


def environment(cache: Path) -> dict[str, str]:
    """This process's environment for both commands, localfaas's caches in `cache`."""
    env = dict(os.environ)
    # The warm-up writes both sides' bytecode, as any second run of a command finds it; a shell that
    # forbids it (PYTHONDONTWRITEBYTECODE, set on some CI) would time compiling instead.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["LOCALFAAS_CACHE_DIR"] = str(cache)  # its own translation cache, filled by the warm-up
    # This checkout's localfaas, whichever one the console script's installation points at.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_LOCALFAAS), env.get("PYTHONPATH")]))
    return env


def commands(project: Path) -> tuple[list[str], list[str]]:
    """(localfaas invoke, python-lambda-local): the same handler, the same event file."""
    localfaas = [
        str(SCRIPTS / "localfaas"),
        "invoke",
        "BenchNoOp",
        "--event",
        "event.json",
        "--skip-build",
        # No `localfaas up` of another session is used: a stack started for the call, every time.
        "--endpoints-file",
        str(project / "no-up.json"),
    ]
    peer = [str(SCRIPTS / "python-lambda-local"), "-f", "handler", "-t", "30", "noop/app.py", "event.json"]
    return localfaas, peer


def call(command: list[str], cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:  # both exit 1 when the handler fails: a failed call is not the figure
        raise RuntimeError(f"{Path(command[0]).name} exited {done.returncode}: {done.stderr.strip()[-600:]}")


def interleaved_processes(
    localfaas: list[str], peer: list[str], cwd: Path, env: dict[str, str], runs: int
) -> tuple[Series, Series]:
    """(localfaas's, the peer's) times of `runs` processes each, alternately (B S, S B, ...), after one
    uncounted warm-up each that writes the bytecode and localfaas's caches."""
    times: dict[str, list[int]] = {"localfaas": [], "peer": []}
    for number in range(runs + 1):
        order = [("peer", peer), ("localfaas", localfaas)][:: -1 if number % 2 else 1]
        for side, command in order:
            elapsed = time_once(lambda command=command: call(command, cwd, env))
            if number:
                times[side].append(elapsed)
    return Series(tuple(times["localfaas"])), Series(tuple(times["peer"]))


def unavailable() -> str | None:
    for script in ("localfaas", "python-lambda-local"):
        if not (SCRIPTS / script).exists():
            return f"no {script} beside {sys.executable} (python-lambda-local is in the dev extras)"
    return None


def measure(sizes: Sizes, workdir: Path) -> Figure:
    project = _project(workdir)
    localfaas, peer = commands(project)
    subject, baseline = interleaved_processes(
        localfaas, peer, project, environment(project / "cache"), sizes.invoke_command_runs
    )
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
        target=TARGET,
        context={
            "event": str(EVENT.relative_to(EVENTS.parent)),
            "runtime": "worker (the default)",
            "backend": "a moto stack started for the call (the default with no `up`)",
        },
    )


def run(sizes: Sizes, workdir: Path) -> list[Figure]:
    why_not = unavailable()
    if why_not is not None:
        return [pending(NAME, FIGURE, DESCRIPTION, why_not, TARGET)]
    try:
        return [measure(sizes, workdir)]
    except Exception as error:
        return [failed(NAME, FIGURE, DESCRIPTION, error)]


if __name__ == "__main__":  # python -m tests.bench.invoke_command
    import tempfile

    from tests.bench.harness import QUICK

    with tempfile.TemporaryDirectory() as folder:
        print(json.dumps(run(QUICK, Path(folder))[0].as_json(), indent=2, ensure_ascii=False))
