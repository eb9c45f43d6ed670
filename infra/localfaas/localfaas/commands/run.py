"""`localfaas run --scenario FILE`: run a scenario through the whole template and report what happened.

Starts the backend (moto on 127.0.0.1 by default), provisions the template's resources, creates the
scenario's topics, produces its records (their timestamps as CREATE_TIME) and puts its events, then
polls every Kafka event source mapping and runs the buses' deliveries and Lambda's asynchronous
retries in virtual time until nothing is left to do. With a window (--window, or the scenario's
windowSeconds), records are released in timestamp order a slice at a time, each slice run to the end
first, so what happened hours apart on different topics is processed in that order. Prints the report: invocations per function,
each mapping's records, the bus's events and deliveries, the resources' contents, the scenario's
checks, and NOTHING LOST or what was lost (and NOT RUN for a trigger localfaas skips that had work).

With --state-dir the run keeps its state (the log, by default, accepted events, queued asynchronous
invocations, how far the scenario was fed) in that folder: started again on it after a crash, it
delivers again what was accepted and not settled, feeds only what was not fed, and reports the totals
of an uninterrupted run. With --moto-endpoint the AWS resources live in a moto server another process
owns (`moto_server`), so they too outlive the run; it is never reset here.

Exit status: 0 when nothing was lost, no skipped trigger had work and every check passed; 1 otherwise; 2 when the scenario, the
template or the options cannot be used; 130 on Ctrl-C, after the report of what ran so far.

With a fault plan's kill-after=N (--faults, or the scenario's "faults"), this process supervises: it
hosts the moto server itself, runs the run as a child `localfaas run` on that server with a fixed
state and log folder, and when the child is killed after invocation N it says so and starts it again
without the kill, to resume from what the log and the state folder hold; the exit status and the
report are the last child's.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, TextIO

from localfaas.commands._options import (
    UsageError,
    add_stack_flags,
    add_template_flags,
    stack_options,
    usage_error,
)
from localfaas.owner_only import open_file, write_text

if TYPE_CHECKING:
    from localfaas.faults import FaultPlan

EXIT_LOST_OR_FAILED = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command Ctrl-C ended
# The localfaas package's parent folder: a child run imports this localfaas, wherever it is installed.
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a scenario through the whole template and report what happened",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--scenario", required=True, metavar="FILE", help="scenario file (JSON)")
    add_template_flags(parser, default=None, default_help="the scenario's")
    add_stack_flags(parser, runtime_default="in-process", log_dir_default=None)
    parser.add_argument(
        "--window",
        type=float,
        metavar="SECONDS",
        help="release records in timestamp order, SECONDS of scenario time at a time, each slice run to "
        "the end before the next (default: the scenario's windowSeconds, else all at once; 0: all at once)",
    )
    parser.add_argument(
        "--until",
        metavar="TIME",
        help="the end of the run's span (ISO 8601 or epoch ms): schedules fire their moments up to it "
        "(default: the scenario's until, else its last record or event time)",
    )
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        help="keep the run's state here and resume from it; a scenario fed to it before is not fed again "
        "(default: a fresh temporary folder, removed)",
    )
    parser.add_argument("--json", metavar="REPORT.json", help="also write the report as JSON to this file")
    parser.add_argument("--function-logs", metavar="FILE", help="append every invocation's logs to this file")
    parser.add_argument(
        "--moto-endpoint",
        metavar="URL",
        help="run on this moto server (one you or a supervising run started), never reset: its resources "
        "outlive the run, to be read afterwards",
    )
    # Internal, set by the supervisor of a run with kill-after on its child: that it is the child (the
    # kill happens here). A restarted child resumes from the state folder, as any run on it does.
    parser.add_argument("--supervised", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from localfaas.local_stack import LocalStack, StackError
    from localfaas.scenario import ScenarioError, load_scenario

    try:
        scenario = load_scenario(args.scenario)
        template = Path(args.template) if args.template else scenario.template
        if template is None:
            raise UsageError(f"{args.scenario} names no template; pass --template")
        options = stack_options(
            args,
            template=template,
            parameters=scenario.parameters,
            environment=scenario.environment,
            faults=scenario.faults,
        )
        plan = options["faults"]
        if plan is not None and plan.kill_after and not args.supervised:
            if args.backend != "moto" and args.moto_endpoint is None:
                raise UsageError("kill-after needs the moto backend (its server outlives the killed run)")
            return supervise(args, plan.seeded())
        options.update(_durable_options(args))
        until = _until(args.until)
    except (ScenarioError, UsageError) as e:
        return usage_error("run", e)
    function_logs = (
        os.fdopen(open_file(args.function_logs, os.O_WRONLY | os.O_APPEND), "a")
        if args.function_logs
        else None
    )
    stack = LocalStack(template, topics=scenario.topics, function_logs=function_logs, **options)
    try:
        try:
            stack.start()
        except Exception as e:  # template, mapping, provisioning and backend errors all say what is wrong
            return usage_error("run", e)
        for warning in stack.warnings:
            print(f"localfaas run: warning: {warning}", file=sys.stderr)
        if stack.faults is not None:  # its seed, to draw the same faults again
            print(f"localfaas run: faults: {stack.faults.text()}", file=sys.stderr)
        if any(stack.resumed.values()):
            print(
                f"localfaas run: resumed {stack.resumed['events']} event(s) and "
                f"{stack.resumed['invocations']} asynchronous invocation(s) left unsettled in {args.state_dir}",
                file=sys.stderr,
            )
        sent = f", {len(scenario.messages)} SQS messages" if scenario.messages else ""
        published = f", {len(scenario.publish)} SNS messages" if scenario.publish else ""
        print(
            f"localfaas run: {scenario.name}: {len(scenario.records)} records, {len(scenario.events)} events"
            + sent
            + published,
            file=sys.stderr,
        )
        window = scenario.window_s if args.window is None else args.window
        progress = Progress(sys.stderr)
        try:
            finished = stack.run_scenario(scenario, window_s=window, progress=progress.update, until=until)
        except KeyboardInterrupt:  # Ctrl-C: the report of what ran so far, exit 130
            finished = None
        except StackError as e:  # what the scenario feeds cannot be fed (a publish to no such topic)
            progress.done()
            return usage_error("run", e)
        progress.done()
        if finished is False:
            print("localfaas run: stopped: records stopped settling (see LOST below)", file=sys.stderr)
        report = stack.report(scenario, stopped=finished is None)
        if finished is None:
            report.mark_interrupted()
        if stack.fault_dice is not None:
            injected = ", ".join(f"{what} {n}" for what, n in sorted(stack.fault_dice.counts.items()))
            print(f"localfaas run: faults injected: {injected or 'none'}", file=sys.stderr)
    finally:
        stack.close()
        if function_logs is not None:
            function_logs.close()
    sys.stdout.write(report.render())
    if args.json:
        write_text(args.json, report.to_json() + "\n")
    if report.interrupted:
        return EXIT_INTERRUPTED
    return 0 if report.ok else EXIT_LOST_OR_FAILED


def _until(text: str | None) -> float | None:
    """--until as epoch seconds of virtual time."""
    if text is None:
        return None
    from localfaas.log import timestamp_ms

    try:
        return timestamp_ms(text) / 1000
    except ValueError as e:
        raise UsageError(f"--until: {e}") from None


def supervise(args: argparse.Namespace, plan: FaultPlan) -> int:
    """Run the run as a child process that is killed after invocation `plan.kill_after`, then resumed."""
    from localfaas.backend import MotoBackend
    from localfaas.faults import Dice
    from localfaas.throttling import Throttler

    dice = Dice(plan.seed or 0)
    if args.moto_endpoint is not None:  # the caller's server: throttling is the child's alone
        server: Any = contextlib.nullcontext(SimpleNamespace(endpoint_url=args.moto_endpoint))
    else:  # the functions' calls reach this server over HTTP, so this process throttles them
        middleware = Throttler(plan.throttle, dice).wsgi if plan.throttle else None
        server = MotoBackend(region=args.region, reset=True, middleware=middleware)
    own_state = args.state_dir is None
    state_dir = Path(tempfile.mkdtemp(prefix="localfaas-run-")) if own_state else Path(args.state_dir)
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    log_dir = Path(args.log_dir) if args.log_dir else state_dir / "log"
    argv = list(getattr(args, "argv", None) or sys.argv[1:])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [_PACKAGE_PARENT, os.environ.get("PYTHONPATH")])),
    }
    try:
        with server as moto:
            attempt = plan
            while True:
                # Flags given last win: the child runs this plan, on this server, in these folders.
                child = [*argv, "--faults", attempt.text(), "--moto-endpoint", str(moto.endpoint_url)]
                child += [
                    "--supervised",
                    "--state-dir",
                    str(state_dir),
                    "--log-dir",
                    str(log_dir),
                ]
                sys.stdout.flush()
                status = subprocess.call([sys.executable, "-m", "localfaas.cli", *child], env=env)  # noqa: S603
                if status != -signal.SIGKILL or not attempt.kill_after:
                    if dice.counts:  # calls that reached this server over HTTP (worker processes)
                        injected = ", ".join(f"{what} {n}" for what, n in sorted(dice.counts.items()))
                        print(
                            f"localfaas run: faults injected at the moto server: {injected}", file=sys.stderr
                        )
                    return status
                print(
                    f"localfaas run: killed after invocation {attempt.kill_after}; resuming", file=sys.stderr
                )
                attempt = attempt.without_kill()
    finally:
        if own_state:
            shutil.rmtree(state_dir, ignore_errors=True)


def _durable_options(args: argparse.Namespace) -> dict[str, Any]:
    """--state-dir (LocalStack keeps the embedded log in it unless --log-dir says otherwise) and
    --moto-endpoint."""
    options: dict[str, Any] = {}
    if args.state_dir:
        options["state_dir"] = Path(args.state_dir)
    if args.moto_endpoint:
        if args.backend != "moto":
            raise UsageError(
                f"--moto-endpoint is a moto server; it cannot be used with --backend {args.backend}"
            )
        from localfaas.backend import RemoteMotoBackend

        options["backend"] = RemoteMotoBackend(args.moto_endpoint, region=args.region)
    return options


class Progress:
    """Record deliveries settled / total on stderr: one line rewritten in place on a terminal, a plain line every
    few seconds otherwise (CI logs)."""

    def __init__(self, stream: TextIO, *, every_s: float = 5.0) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.every_s = 0.1 if self.tty else every_s
        self._last = 0.0
        self._shown = ""
        self._latest = ""

    def update(self, settled: int, total: int) -> None:
        percent = f" ({100 * settled // total}%)" if total else ""
        self._latest = (
            f"settled {settled}/{total} record deliveries (records x the mappings reading them){percent}"
        )
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self._show()

    def _show(self) -> None:
        if self._latest == self._shown:
            return
        self._shown = self._latest
        if self.tty:
            self.stream.write(f"\r\x1b[K{self._latest}")
        else:
            self.stream.write(f"{self._latest}\n")
        self.stream.flush()

    def done(self) -> None:
        self._show()
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
