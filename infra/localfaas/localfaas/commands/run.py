"""`localfaas run --scenario FILE`: run a scenario through the whole template and report what happened.

Starts the backend (moto on 127.0.0.1 by default), provisions the template's resources, creates the
scenario's topics, produces its records (their timestamps as CREATE_TIME) and puts its events, then
polls every Kafka event source mapping and runs the buses' deliveries and Lambda's asynchronous
retries in virtual time until nothing is left to do. With a window (--window, or the scenario's
windowSeconds), records are released in timestamp order a slice at a time, each slice run to the end
first, so what happened hours apart on different topics is processed in that order. Prints the report: invocations per function,
each mapping's records, the bus's events and deliveries, the resources' contents, the scenario's
checks, and NOTHING LOST or what was lost.

Exit status: 0 when nothing was lost and every check passed; 1 otherwise; 2 when the scenario, the
template or the options cannot be used.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from localfaas.commands._options import (
    UsageError,
    add_stack_flags,
    add_template_flags,
    stack_options,
    usage_error,
)
from localfaas.owner_only import open_file, write_text

EXIT_LOST_OR_FAILED = 1


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
    parser.add_argument("--json", metavar="REPORT.json", help="also write the report as JSON to this file")
    parser.add_argument("--function-logs", metavar="FILE", help="append every invocation's logs to this file")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from localfaas.local_stack import LocalStack
    from localfaas.scenario import ScenarioError, load_scenario

    try:
        scenario = load_scenario(args.scenario)
        template = Path(args.template) if args.template else scenario.template
        if template is None:
            raise UsageError(f"{args.scenario} names no template; pass --template")
        options = stack_options(args, parameters=scenario.parameters, environment=scenario.environment)
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
        print(
            f"localfaas run: {scenario.name}: {len(scenario.records)} records, {len(scenario.events)} events",
            file=sys.stderr,
        )
        window = scenario.window_s if args.window is None else args.window
        progress = Progress(sys.stderr)
        finished = stack.run_scenario(scenario, window_s=window, progress=progress.update)
        progress.done()
        if not finished:
            print("localfaas run: stopped: records stopped settling (see LOST below)", file=sys.stderr)
        report = stack.report(scenario)
    finally:
        stack.close()
        if function_logs is not None:
            function_logs.close()
    sys.stdout.write(report.render())
    if args.json:
        write_text(args.json, report.to_json() + "\n")
    return 0 if report.ok else EXIT_LOST_OR_FAILED


class Progress:
    """Records settled / total on stderr: one line rewritten in place on a terminal, a plain line every
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
        self._latest = f"records settled: {settled}/{total}{percent}"
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
