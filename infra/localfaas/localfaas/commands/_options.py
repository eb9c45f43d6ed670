"""What several commands share: the template and its parameter overrides, SAM's env-vars file, the
stack flags of `run` and `up`, where `up` leaves its state for other terminals, and usage errors.

The flags read as `sam local` reads them, so a SAM user's command lines carry over:
https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-cli-command-reference-sam-local-invoke.html
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

EXIT_USAGE = 2
# `up` writes here; `produce` and `put-events`, run from another terminal, read here by default.
STATE_DIR = Path(".localfaas")
LOG_DIR = STATE_DIR / "log"
ENDPOINTS_FILE = STATE_DIR / "endpoints.json"
# A project's local function variables, read when --env-vars is not given: the name AWS's page
# 'Locally invoke Lambda functions with AWS SAM' gives the --env-vars file, so `sam local invoke
# --env-vars env.json` reads the same one. ${LOCALFAAS_STATE_DIR} in a value is the state folder.
# https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/serverless-sam-cli-using-invoke.html
LOCAL_ENV_FILE = "env.json"
STATE_DIR_VARIABLE = "${LOCALFAAS_STATE_DIR}"


def find_state_dir(start: Path | None = None) -> Path:
    """The project's state folder: the nearest STATE_DIR in `start` (the working directory) or a
    folder above it, as git finds .git, so that commands run from a subdirectory reach the `up` of
    the project; STATE_DIR under `start` when there is none."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / STATE_DIR).is_dir():
            return folder / STATE_DIR
    return here / STATE_DIR


def make_state_dir(state_dir: Path) -> Path:
    """The state folder, created owner-only: what it holds (the log's records, the read model, the
    archives) is the caller's data, for no other user of the machine."""
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return state_dir


def read_endpoints(path: Path) -> dict[str, Any] | None:
    """What a `localfaas up` wrote to its endpoints file; None when there is no readable one."""
    try:
        endpoints = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return endpoints if isinstance(endpoints, dict) else None


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
    """--template, --parameter-overrides and SAM's configuration file, as `sam local` takes them."""
    parser.add_argument(
        "--template", "-t", default=default, metavar="FILE", help=f"SAM template (default: {default_help})"
    )
    parser.add_argument(
        "--parameter-overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help='template parameters: "Key=Value Key=Value" (one argument or several) or '
        "ParameterKey=Key,ParameterValue=Value (default: the configuration file's parameter_overrides)",
    )
    parser.add_argument(
        "--config-file",
        metavar="FILE",
        help="SAM configuration file (default: samconfig.toml, .yaml or .yml beside the template)",
    )
    parser.add_argument(
        "--config-env", metavar="NAME", help="environment of the configuration file (default: default)"
    )


def template_parameters(
    args: argparse.Namespace, template: str | Path, *, tables: tuple[str, ...] = ("deploy",)
) -> dict[str, str]:
    """The parameter overrides: --parameter-overrides when given, else those the configuration file's
    `tables` (then its global table) hold; UsageError for either that cannot be used."""
    from localfaas.commands._samconfig import ConfigError, configured_overrides

    if args.parameter_overrides is not None:
        return parameter_overrides(args.parameter_overrides)
    try:
        items = configured_overrides(
            Path(template), config_file=args.config_file, config_env=args.config_env, tables=tables
        )
    except ConfigError as e:
        raise UsageError(str(e)) from None
    return parameter_overrides(items)


# SAM CLI's CfnParameterOverridesType (samcli/cli/types.py), which `sam` parses the flag and the
# configuration file's parameter_overrides with: a key of letters, digits and quotes; a value quoted
# in "..." or '...' (spaces kept, backslash escapes), or unquoted up to the next space (`\ ` keeps
# one). Where it differs: an unquoted empty value (`Key=`) is the empty string, the two forms may be
# mixed in one argument, and text that is neither form is an error, where SAM drops it silently.
_KEY = r"""([A-Za-z0-9"']+)"""
_VALUE = r"""("(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|(?:\\.|[^ "\\])*)"""
_OVERRIDE = re.compile(rf"\s*(?:ParameterKey={_KEY},ParameterValue={_VALUE}|{_KEY}={_VALUE})(?=\s|$)")


def parameter_overrides(items: list[str]) -> dict[str, str]:
    """--parameter-overrides as SAM splits it: each argument one or more space-separated Key=Value or
    ParameterKey=Key,ParameterValue=Value; a later key wins."""
    overrides = {}
    for item in items:
        position, end = 0, len(item.rstrip())
        while position < end:
            match = _OVERRIDE.match(item, position)
            if match is None:
                rest = item[position:].split()[0]
                raise UsageError(
                    f"parameter override {rest!r} is not Key=Value or ParameterKey=Key,ParameterValue=Value"
                )
            long_key, long_value, key, value = match.groups()
            overrides[_unquote(long_key or key)] = _unquote(long_value if long_key else value)
            position = match.end()
    return overrides


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1]
    return text.replace("\\ ", " ").replace('\\"', '"').replace("\\'", "'")


# -- function variables ----------------------------------------------------------------------------


def add_env_vars_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env-vars",
        "-n",
        metavar="FILE",
        help='function variables, in SAM\'s env-vars format ({"Parameters": {...}, "LogicalId": {...}}; '
        f"default: {LOCAL_ENV_FILE} beside the template, when there is one)",
    )


def function_variables(args: argparse.Namespace, template: str | Path) -> dict[str, dict[str, Any]]:
    """--env-vars when given, else the project's LOCAL_ENV_FILE beside the template when there is one."""
    if args.env_vars is None:
        default = Path(template).parent / LOCAL_ENV_FILE
        return read_env_vars(str(default)) if default.is_file() else {}
    return read_env_vars(args.env_vars)


def in_state_dir(env_vars: dict[str, dict[str, Any]], state_dir: Path) -> dict[str, dict[str, Any]]:
    """`env_vars` with ${LOCALFAAS_STATE_DIR} made `state_dir`, as LocalStack makes it for its own
    functions; for a command that runs a function of an `up` outside that `up` (invoke)."""
    folder = str(state_dir.resolve())
    return {
        scope: {
            k: v.replace(STATE_DIR_VARIABLE, folder) if isinstance(v, str) else v
            for k, v in variables.items()
        }
        for scope, variables in env_vars.items()
    }


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
    add_build_flags(parser)
    parser.add_argument(
        "--faults",
        metavar="PLAN",
        help="fault plan: throttle=SHARE,crash=SHARE,timeout=SHARE,kill-after=N,seed=S (any of them; "
        "over a scenario's \"faults\", key by key); see the README's Fault injection",
    )
    add_enforce_roles_flag(parser)


def add_enforce_roles_flag(parser: argparse.ArgumentParser) -> None:
    """issue 14: each function's calls checked against its execution role (localfaas.role_enforcement)."""
    from localfaas.role_enforcement import ENFORCE_ROLES_DEFAULT

    parser.add_argument(
        "--enforce-roles",
        action=argparse.BooleanOptionalAction,
        default=ENFORCE_ROLES_DEFAULT,
        help="refuse a function's AWS call its execution role does not allow, with the service's "
        "AccessDenied (moto backend; default: %(default)s)",
    )


def add_build_flags(parser: argparse.ArgumentParser) -> None:
    """--skip-build and --build-dir: commands that run functions build them first, as `sam build`."""
    parser.add_argument(
        "--skip-build",
        action="store_true",
        help="run the functions from their sources as they are, without building them first",
    )
    parser.add_argument(
        "--build-dir",
        metavar="DIR",
        help="where the builds go, as `sam build --build-dir` (default: .aws-sam/build beside the template)",
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
    template: str | Path | None = None,
    parameters: dict[str, str] | None = None,
    environment: dict[str, dict[str, str]] | None = None,
    faults: Any = None,
) -> dict[str, Any]:
    """LocalStack's keyword arguments from the flags `add_stack_flags` and `add_template_flags` add (over
    a scenario's parameters, environment and fault plan); UsageError for flags that cannot be used. A
    scenario's parameters and variables sit between the project's defaults (samconfig.toml,
    LOCAL_ENV_FILE) and the command line's: they are the more specific."""
    if args.log == "kafka" and not args.bootstrap_servers:
        raise UsageError("--log kafka needs --bootstrap-servers")
    template = template or args.template
    overrides, variables = template_parameters(args, template), function_variables(args, template)
    scenario_parameters, scenario_variables = parameters or {}, environment or {}
    return {
        "faults": fault_plan(args, faults),
        "parameters": (
            {**scenario_parameters, **overrides}
            if args.parameter_overrides is not None
            else {**overrides, **scenario_parameters}
        ),
        "environment": (
            merge_environment(scenario_variables, variables)
            if args.env_vars is not None
            else merge_environment(variables, scenario_variables)
        ),
        "runtime": args.runtime,
        "log": args.log,
        "log_dir": args.log_dir,
        "bootstrap_servers": args.bootstrap_servers,
        "backend": args.backend,
        "region": args.region,
        "stack_name": args.stack_name,
        "build": not args.skip_build,
        "build_dir": args.build_dir,
        "enforce_roles": args.enforce_roles,  # add_stack_flags' --enforce-roles
    }
