"""`localfaas invoke`: `sam local invoke` without Docker.

Invokes one function of the template once: its return value goes to stdout as JSON, its logs (with
START/END/REPORT lines) to stderr. When the function fails, the Lambda error object goes to stdout and
the exit status is 1. An unknown function, an unreadable event or template, a backend that cannot be
started: one line on stderr, exit 2.
`--env-vars` takes SAM's file: {"Parameters": {VAR: value}} for every function and
{"LogicalId" or "FunctionName": {VAR: value}} for one; as in SAM, only variables the template declares
are overridden.
https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-cli-command-reference-sam-local-invoke.html

Where the function's SDK calls go:
- `--endpoint-url URL`: there (LocalStack, a moto server), with dummy credentials;
- `--backend aws`: AWS, with the caller's credentials, as under `sam local invoke`;
- otherwise the `localfaas up` running this template in this project (its endpoints file, in the
  nearest .localfaas found upward as git finds .git), its PutEvents to that stack's buses; and
  with no `up`, or with `--backend moto|localstack`, a stack
  started for the call: the backend with the template's resources provisioned, the function's
  PutEvents accepted by its buses (not delivered further: one function runs, once). On moto in a
  worker process (the default) that stack starts on the function's first call to it
  (localfaas.on_demand): a function that calls no AWS service costs no backend, and the seconds a
  first call waits for the start are added to the function's Timeout, not taken from it (the
  REPORT line's Duration still shows them).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from localfaas.commands._options import (
    ENDPOINTS_FILE,
    UsageError,
    add_build_flags,
    add_enforce_roles_flag,
    add_env_vars_flag,
    add_template_flags,
    find_state_dir,
    function_variables,
    in_state_dir,
    template_parameters,
    usage_error,
)

EXIT_FUNCTION_ERROR = 1
# Against moto or LocalStack any secret works; the access key id is the account, as `up` and `run`
# sign (localfaas.backend.local_credentials: LocalStack takes a 12-digit key id as the account to
# namespace resources in, https://docs.localstack.cloud/aws/capabilities/config/credentials). An
# env-vars file may set these names for the function (Parameters or its own scope) to sign otherwise.
_LOCAL_CREDENTIAL_NAMES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


# Against AWS the function uses the caller's credentials, as under sam local.
_HOST_CREDENTIALS = (
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)
# boto3's service-specific endpoint variable for EventBridge (localfaas.events_api.ENDPOINT_VARIABLE,
# not imported here so that a usage error costs no import of the bus).
_EVENTS_ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_EVENTBRIDGE"
_LAMBDA_ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_LAMBDA"  # localfaas.lambda_api.ENDPOINT_VARIABLE (issue 12)
_UP_ANSWER_TIMEOUT_S = 0.5
# The configuration file's tables read for parameter overrides, as `sam local invoke` reads its own.
_CONFIG_TABLES = ("local_invoke", "deploy")


@dataclass
class _Target:
    """Where the function's SDK calls go: an endpoint that runs already (`env` says how to reach it),
    or a stack to start for the call (`start_stack`, with `backend` its kind)."""

    env: dict[str, str] = field(default_factory=dict)
    endpoint_url: str | None = None
    region: str = "us-east-1"
    start_stack: bool = False
    backend: str = "moto"
    # The running `up`'s, or the one of a stack started on the first call, for ${LOCALFAAS_STATE_DIR}
    # in env-vars.
    state_dir: Path | None = None


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
    add_build_flags(parser)
    parser.add_argument(
        "--endpoint-url", help="AWS endpoint for the function's SDK clients (moto, LocalStack)"
    )
    parser.add_argument(
        "--backend",
        choices=("moto", "localstack", "aws"),
        help="moto or localstack: a stack started for the call, the template provisioned on it; "
        "aws: AWS with your credentials, as under sam local "
        "(default: the running `localfaas up`, else moto)",
    )
    parser.add_argument(
        "--endpoints-file",
        help=f"where a running `localfaas up` wrote its endpoints (default: {ENDPOINTS_FILE} in the nearest "
        "folder upward that has one, as git finds .git)",
    )
    parser.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    add_enforce_roles_flag(parser)  # on a stack started for the call
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    args.template = _project_template(args.template)
    gates = None
    try:
        if args.endpoint_url and args.backend:
            raise UsageError("--endpoint-url and --backend name two backends; give one")
        event = _read_event(args.event)
        target = _target(args)
        if _on_demand(args, target):
            # The started stack's state folder, made first: ${LOCALFAAS_STATE_DIR} in env-vars names it.
            target.state_dir = Path(tempfile.mkdtemp(prefix="localfaas-state-"))
            gates = _gates(args, target)
            target.endpoint_url = gates.urls["aws"]  # queue URLs in the function's environment name it
        template, function = _prepare(args, target)
        if "AWS_ENDPOINT_URL" in target.env:
            target.env.update(_credentials_override(args, function))
    except UsageError as e:
        if gates is not None:
            _close(gates, target)
        return usage_error("invoke", e)
    if args.runtime == "in-process":
        from localfaas.runtime import TIMEOUT_NOT_ENFORCED

        print(f"localfaas invoke: warning: {TIMEOUT_NOT_ENFORCED}", file=sys.stderr)
    if gates is not None:
        return _invoke_behind_gates(args, target, gates, template, function, event)
    if target.start_stack:
        return _invoke_on_a_new_stack(args, target, function.logical_id, event)
    from localfaas.runtime import InProcessRuntime, WorkerProcessRuntime

    runtime_class = InProcessRuntime if args.runtime == "in-process" else WorkerProcessRuntime
    with runtime_class(target.env, forward_logs=True) as runtime:
        return _print_result(runtime.invoke(function, event))


def _on_demand(args: argparse.Namespace, target: _Target) -> bool:
    """Whether the stack for the call starts only once the function reaches for it (localfaas.on_demand):
    on moto, for a worker process. In-process, moto answers the function without a socket to watch;
    LocalStack's endpoint is LocalStack's own, and the function is given it."""
    return target.start_stack and target.backend == "moto" and args.runtime == "worker"


def _new_stack(args: argparse.Namespace, target: _Target) -> Any:
    from localfaas.local_stack import LocalStack

    return LocalStack(
        args.template,
        parameters=template_parameters(args, args.template, tables=_CONFIG_TABLES),
        environment=function_variables(args, args.template),
        runtime=args.runtime,
        backend=target.backend,
        region=target.region,
        build=not args.skip_build,
        build_dir=args.build_dir,
        enforce_roles=args.enforce_roles,
        state_dir=target.state_dir,
    )


def _gates(args: argparse.Namespace, target: _Target) -> Any:
    """The endpoints the function is given, the stack behind them started on its first call to one."""
    from localfaas.on_demand import OnDemandStack

    def start() -> tuple[dict[str, str], Callable[[], None]]:
        stack = _new_stack(args, target)
        try:
            stack.start()
        except BaseException:
            stack.close()
            raise
        stack.runtime.forward_logs = True  # functions it invokes for this one log as this one does
        urls = {
            "aws": stack.backend.endpoint_url,
            "events": stack.events_api.endpoint_url,
            "lambda": stack.lambda_api.endpoint_url,
        }
        return urls, stack.close

    return OnDemandStack(("aws", "events", "lambda"), start)


def _invoke_behind_gates(
    args: argparse.Namespace, target: _Target, gates: Any, template: Any, function: Any, event: Any
) -> int:
    """The function in a worker process with what a started stack gives it (its endpoints, its
    region, its role's credentials when roles are enforced), the stack started only if it calls."""
    from localfaas.backend import RemoteMotoBackend
    from localfaas.runtime import WorkerProcessRuntime

    env = {
        **RemoteMotoBackend(gates.urls["aws"], region=target.region).function_env(),
        _EVENTS_ENDPOINT_VARIABLE: gates.urls["events"],
        _LAMBDA_ENDPOINT_VARIABLE: gates.urls["lambda"],
    }
    credentials = None
    if args.enforce_roles:
        from localfaas.execution_roles import credentials_env

        credentials = lambda spec: credentials_env(template, spec.logical_id)  # noqa: E731
    try:
        runtime = WorkerProcessRuntime(
            env, forward_logs=True, credentials=credentials, not_counted=gates.starting_s
        )
        with runtime:
            status = _print_result(runtime.invoke(function, event))
    finally:
        _close(gates, target)
    if gates.error is not None:
        return usage_error("invoke", f"cannot start a {target.backend} backend for the call: {gates.error}")
    return status


def _close(gates: Any, target: _Target) -> None:
    gates.close()
    if target.state_dir is not None:
        shutil.rmtree(target.state_dir, ignore_errors=True)


def _invoke_on_a_new_stack(args: argparse.Namespace, target: _Target, function: str, event: Any) -> int:
    from localfaas.backend import BackendError
    from localfaas.local_stack import StackError
    from localfaas.provision import ProvisioningError

    stack = _new_stack(args, target)
    try:
        stack.start()
    except (BackendError, StackError, ProvisioningError, OSError) as e:
        stack.close()
        return usage_error("invoke", f"cannot start a {target.backend} backend for the call: {e}")
    with stack:
        stack.runtime.forward_logs = True  # type: ignore[attr-defined] - both runtimes have it
        return _print_result(stack.invoke(function, event))


def _print_result(result: Any) -> int:
    if result.error is not None:
        print(json.dumps(result.error))
        return EXIT_FUNCTION_ERROR
    if isinstance(result.payload, bytes):
        sys.stdout.buffer.write(result.payload)
        sys.stdout.flush()
    else:
        print(json.dumps(result.payload))
    return 0


def _project_template(template: str) -> str:
    """`template` where it is; a relative one that is not here, from a subdirectory of the project:
    the project's, beside the state folder found upward (the folder `up` runs in)."""
    if Path(template).is_absolute() or Path(template).exists():
        return template
    beside_state = find_state_dir().parent / template
    return str(beside_state) if beside_state.is_file() else template


def _target(args: argparse.Namespace) -> _Target:
    if args.endpoint_url:
        return _Target(
            {"AWS_ENDPOINT_URL": args.endpoint_url, **_local_credentials()}, args.endpoint_url, args.region
        )
    if args.backend == "aws":
        return _Target(_host_credentials(), None, args.region)
    if args.backend is None:
        endpoints_file = (
            Path(args.endpoints_file) if args.endpoints_file else find_state_dir() / ENDPOINTS_FILE.name
        )
        up = _running_up(endpoints_file, Path(args.template))
        if up is not None:
            return up
    return _Target(region=args.region, start_stack=True, backend=args.backend or "moto")


def _running_up(endpoints_file: Path, template: Path) -> _Target | None:
    """The `up` that wrote `endpoints_file`, if it runs `template` and its events endpoint answers."""
    try:
        endpoints = json.loads(endpoints_file.read_text())
        events = endpoints["events"]
        running = Path(endpoints["template"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if running.resolve() != template.resolve():
        print(
            f"localfaas invoke: note: the running `up` serves {running}, not {template}; "
            "starting a backend for the call",
            file=sys.stderr,
        )
        return None
    if not _answers(events):
        return None  # a file left by an `up` that did not stop cleanly
    backend = endpoints.get("backend")
    account = endpoints.get("account")
    env = {"AWS_ENDPOINT_URL": backend, **_local_credentials(account)} if backend else _host_credentials()
    env[_EVENTS_ENDPOINT_VARIABLE] = events
    if endpoints.get("lambda"):  # issue 12: the up's Invoke API, for functions that invoke functions
        env[_LAMBDA_ENDPOINT_VARIABLE] = endpoints["lambda"]
    region = endpoints.get("region") or "us-east-1"
    print(
        f"localfaas invoke: using the running `up` ({endpoints.get('backendKind')} at {backend or 'AWS'})",
        file=sys.stderr,
    )
    return _Target(env, backend, region, state_dir=endpoints_file.parent)


def _answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 80), timeout=_UP_ANSWER_TIMEOUT_S):
            return True
    except (OSError, ValueError):
        return False


def _local_credentials(account_id: str | None = None) -> dict[str, str]:
    from localfaas.backend import local_credentials  # boto3 only once a backend is wanted

    return local_credentials(account_id)


def _credentials_override(args: argparse.Namespace, function: Any) -> dict[str, str]:
    """The credentials the env-vars file gives the function (Parameters, then its FunctionName, then
    its logical id, the most specific winning, as for its other variables)."""
    variables = function_variables(args, args.template)
    chosen: dict[str, str] = {}
    for scope in ("Parameters", function.function_name, function.logical_id):
        given = variables.get(scope) or {}
        chosen.update({k: str(given[k]) for k in _LOCAL_CREDENTIAL_NAMES if given.get(k) is not None})
    return chosen


def _host_credentials() -> dict[str, str]:
    return {k: os.environ[k] for k in _HOST_CREDENTIALS if k in os.environ}


def _prepare(args: argparse.Namespace, target: _Target) -> tuple[Any, Any]:
    """The loaded template and the function to run (overrides applied); UsageError for anything
    unusable. Read before any backend starts, so that a misspelt name costs no start-up."""
    from localfaas.template import FunctionNotFound, TemplateError, load_stack

    try:
        stack = load_stack(
            args.template,
            template_parameters(args, args.template, tables=_CONFIG_TABLES),
            region=target.region,
            endpoint_url=target.endpoint_url,
        )
    except TemplateError as e:
        raise UsageError(str(e)) from None
    for warning in stack.warnings:
        print(f"localfaas invoke: warning: {warning}", file=sys.stderr)
    try:
        function = stack.function(args.function) if args.function else _only_function(stack)
    except FunctionNotFound as e:
        raise UsageError(str(e)) from None
    if not args.skip_build:
        from localfaas.build import BuildError, build_stack

        try:
            built = build_stack(stack, Path(args.build_dir) if args.build_dir else None, say=_say)
        except BuildError as e:
            raise UsageError(f"build: {e}") from None
        function = built.apply(function, shared_interpreter=args.runtime == "in-process")
    variables = function_variables(args, args.template)
    return stack, function.with_env_vars(
        in_state_dir(variables, target.state_dir) if target.state_dir else variables
    )


def _say(text: str) -> None:
    print(f"localfaas invoke: {text}", file=sys.stderr, flush=True)


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
