"""What several commands share: the template and its parameter overrides, SAM's env-vars file, the
stack flags of `run` and `up`, where `up` leaves its state for other terminals, and usage errors.

The flags read as `sam local` reads them, so a SAM user's command lines carry over:
https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-cli-command-reference-sam-local-invoke.html
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

EXIT_USAGE = 2
# `up` writes here; `produce` and `put-events`, run from another terminal, read here by default.
STATE_DIR = Path(".localfaas")
LOG_DIR = STATE_DIR / "log"
ENDPOINTS_FILE = STATE_DIR / "endpoints.json"


class UsageError(Exception):
    """Something the caller has to fix; reported on one line with exit status 2."""


def usage_error(command: str, error: object) -> int:
    """Report `error` as `localfaas COMMAND: error: ...` on stderr; returns the exit status, 2."""
    print(f"localfaas {command}: error: {error}", file=sys.stderr)
    return EXIT_USAGE


# -- the template ----------------------------------------------------------------------------------


def add_template_flags(
    parser: argparse.ArgumentParser,
    *,
    default: str | None = "template.yaml",
    default_help: str = "%(default)s",
) -> None:
    """--template and --parameter-overrides, as `sam local` takes them."""
    parser.add_argument(
        "--template", "-t", default=default, metavar="FILE", help=f"SAM template (default: {default_help})"
    )
    parser.add_argument(
        "--parameter-overrides",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="template parameters, as Key=Value or ParameterKey=Key,ParameterValue=Value",
    )


def parameter_overrides(items: list[str]) -> dict[str, str]:
    """--parameter-overrides: Key=Value, or SAM's ParameterKey=Key,ParameterValue=Value."""
    overrides = {}
    for item in items:
        if item.startswith("ParameterKey="):
            fields = dict(part.split("=", 1) for part in item.split(",", 1) if "=" in part)
            key, value = fields.get("ParameterKey"), fields.get("ParameterValue")
        else:
            key, sep, value = item.partition("=")
            value = value if sep else None
        if not key or value is None:
            raise UsageError(f"parameter override {item!r} is not Key=Value")
        overrides[key] = value
    return overrides


# -- function variables ----------------------------------------------------------------------------


def add_env_vars_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env-vars",
        "-n",
        metavar="FILE",
        help='function variables, in SAM\'s env-vars format ({"Parameters": {...}, "LogicalId": {...}})',
    )


def read_env_vars(path: str | None) -> dict[str, dict[str, Any]]:
    """SAM's env-vars file: {"Parameters": {VAR: value}} for every function, {LogicalId or FunctionName:
    {VAR: value}} for one (FunctionSpec.with_env_vars applies it). A scope of null counts as empty."""
    if path is None:
        return {}
    try:
        data = json.loads(Path(path).read_text())
    except OSError as e:
        raise UsageError(f"cannot read env-vars file {path}: {e.strerror}") from None
    except ValueError as e:
        raise UsageError(f"env-vars file {path} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise UsageError(f"env-vars file {path} must hold a JSON object")
    for scope, variables in data.items():
        if variables is not None and not isinstance(variables, dict):
            raise UsageError(f"env-vars file {path}: {scope} must map variable names to values")
    return {scope: variables or {} for scope, variables in data.items()}


def merge_environment(*layers: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Env-vars layers merged scope by scope, a later layer's variable winning."""
    merged: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for scope, variables in layer.items():
            merged.setdefault(scope, {}).update(variables)
    return merged


# -- a whole local stack (run, up) -----------------------------------------------------------------


def add_stack_flags(
    parser: argparse.ArgumentParser, *, runtime_default: str, log_dir_default: str | None
) -> None:
    """Flags shared by `run` and `up`: how LocalStack runs the template (besides the template itself)."""
    parser.add_argument(
        "--runtime",
        choices=("in-process", "worker"),
        default=runtime_default,
        help="in-process (fast) or one worker process per function (default: %(default)s)",
    )
    parser.add_argument(
        "--log", choices=("embedded", "kafka"), default="embedded", help="(default: %(default)s)"
    )
    parser.add_argument(
        "--log-dir",
        default=log_dir_default,
        help="embedded log directory (default: %s)" % (log_dir_default or "a fresh temporary one"),
    )
    parser.add_argument("--bootstrap-servers", metavar="HOST:PORT", help="Kafka brokers, for --log kafka")
    parser.add_argument(
        "--backend", choices=("moto", "localstack", "aws"), default="moto", help="(default: %(default)s)"
    )
    add_env_vars_flag(parser)
    parser.add_argument("--region", default="us-east-1", help="(default: %(default)s)")
    parser.add_argument(
        "--stack-name", default="localfaas", help="the stack name the template sees (default: %(default)s)"
    )
    parser.add_argument(
        "--faults",
        metavar="PLAN",
        help="fault plan: throttle=SHARE,crash=SHARE,timeout=SHARE,kill-after=N,seed=S (any of them; "
        "over a scenario's \"faults\", key by key); see the README's Fault injection",
    )


def fault_plan(args: argparse.Namespace, base: Any = None) -> Any:
    """The --faults plan over `base` (a scenario's), or `base`; UsageError for a plan that cannot be used."""
    if not getattr(args, "faults", None):
        return base
    from localfaas.faults import FaultPlan, FaultPlanError, parse_fault_plan

    try:
        plan, given = parse_fault_plan(args.faults)
    except FaultPlanError as e:
        raise UsageError(f"--faults: {e}") from None
    return plan.over(base or FaultPlan(), given)


def stack_options(
    args: argparse.Namespace,
    *,
    parameters: dict[str, str] | None = None,
    environment: dict[str, dict[str, str]] | None = None,
    faults: Any = None,
) -> dict[str, Any]:
    """LocalStack's keyword arguments from the flags `add_stack_flags` and `add_template_flags` add (over
    a scenario's parameters, environment and fault plan); UsageError for flags that cannot be used."""
    if args.log == "kafka" and not args.bootstrap_servers:
        raise UsageError("--log kafka needs --bootstrap-servers")
    return {
        "faults": fault_plan(args, faults),
        "parameters": {**(parameters or {}), **parameter_overrides(args.parameter_overrides)},
        "environment": merge_environment(environment or {}, read_env_vars(args.env_vars)),
        "runtime": args.runtime,
        "log": args.log,
        "log_dir": args.log_dir,
        "bootstrap_servers": args.bootstrap_servers,
        "backend": args.backend,
        "region": args.region,
        "stack_name": args.stack_name,
    }
