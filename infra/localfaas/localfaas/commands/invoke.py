"""`localfaas invoke`: `sam local invoke` without Docker.

Invokes one function of the template once: its return value goes to stdout as JSON, its logs (with
START/END/REPORT lines) to stderr. When the function fails, the Lambda error object goes to stdout and
the exit status is 1. An unknown function, an unreadable event or template: one line on stderr, exit 2.
`--env-vars` takes SAM's file: {"Parameters": {VAR: value}} for every function and
{"LogicalId" or "FunctionName": {VAR: value}} for one; as in SAM, only variables the template declares
are overridden.
https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-cli-command-reference-sam-local-invoke.html
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from localfaas.commands._options import (
    UsageError,
    add_env_vars_flag,
    add_template_flags,
    parameter_overrides,
    read_env_vars,
    usage_error,
)

EXIT_FUNCTION_ERROR = 1
# Any key works against moto or LocalStack; these only have to be present for boto3 to sign.
_LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "localfaas",
    "AWS_SECRET_ACCESS_KEY": "localfaas",
    "AWS_SESSION_TOKEN": "localfaas",
}
# Without an endpoint the function talks to AWS with the caller's credentials, as under sam local.
_HOST_CREDENTIALS = (
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "invoke",
        help="invoke one function of the template once (like `sam local invoke`)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "function", nargs="?", help="logical id or function name (may be left out if there is only one)"
    )
    parser.add_argument("-e", "--event", help="event file as JSON, or - for stdin (default: {})")
    add_env_vars_flag(parser)
    add_template_flags(parser)
    parser.add_argument("--runtime", choices=("in-process", "worker"), default="worker")
    parser.add_argument(
        "--endpoint-url", help="AWS endpoint for the function's SDK clients (moto, LocalStack)"
    )
    parser.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from localfaas.runtime import InProcessRuntime, WorkerProcessRuntime

    try:
        function, event = _prepare(args)
    except UsageError as e:
        return usage_error("invoke", e)
    runtime_class = InProcessRuntime if args.runtime == "in-process" else WorkerProcessRuntime
    with runtime_class(_extra_env(args.endpoint_url), forward_logs=True) as runtime:
        result = runtime.invoke(function, event)
    if result.error is not None:
        print(json.dumps(result.error))
        return EXIT_FUNCTION_ERROR
    if isinstance(result.payload, bytes):
        sys.stdout.buffer.write(result.payload)
        sys.stdout.flush()
    else:
        print(json.dumps(result.payload))
    return 0


def _prepare(args: argparse.Namespace) -> tuple[Any, Any]:
    """The function to run (overrides applied) and its event; UsageError for anything unusable."""
    from localfaas.template import FunctionNotFound, TemplateError, load_stack

    event = _read_event(args.event)
    try:
        stack = load_stack(
            args.template,
            parameter_overrides(args.parameter_overrides),
            region=args.region,
            endpoint_url=args.endpoint_url,
        )
    except TemplateError as e:
        raise UsageError(str(e)) from None
    for warning in stack.warnings:
        print(f"localfaas invoke: warning: {warning}", file=sys.stderr)
    try:
        function = stack.function(args.function) if args.function else _only_function(stack)
    except FunctionNotFound as e:
        raise UsageError(str(e)) from None
    return function.with_env_vars(read_env_vars(args.env_vars)), event


def _only_function(stack: Any) -> Any:
    if len(stack.functions) != 1:
        known = ", ".join(sorted(stack.functions)) or "none"
        raise UsageError(f"name the function to invoke; {stack.template_path.name} has: {known}")
    return next(iter(stack.functions.values()))


def _read_event(source: str | None) -> Any:
    if source is None:
        return {}
    name = "stdin" if source == "-" else f"event file {source}"
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
    except OSError as e:
        raise UsageError(f"cannot read {name}: {e.strerror}") from None
    try:
        return json.loads(text)
    except ValueError as e:
        raise UsageError(f"{name} is not valid JSON: {e}") from None


def _extra_env(endpoint_url: str | None) -> dict[str, str]:
    if endpoint_url:
        return {"AWS_ENDPOINT_URL": endpoint_url, **_LOCAL_CREDENTIALS}
    return {k: os.environ[k] for k in _HOST_CREDENTIALS if k in os.environ}
