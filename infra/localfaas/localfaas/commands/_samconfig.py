"""SAM's configuration file, read as `sam` reads it: the parameter_overrides a command uses when
--parameter-overrides is not on its command line.

'AWS SAM CLI configuration file':
https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/serverless-sam-cli-config.html
- the file: --config-file, else samconfig.toml, else samconfig.yaml or .yml, at the project's root (the
  template's folder); tables are [ENVIRONMENT.COMMAND.parameters], the environment `default` unless
  --config-env names another;
- precedence: the command line, then the command's table, then [ENVIRONMENT.global.parameters]; a
  value on the command line replaces the file's (the two are never merged).

Where localfaas differs: `sam local invoke` reads only its local_invoke table, but the overrides of a
project live in its deploy table (`sam deploy --guided` writes them there), and a local stack is meant
to be the deployed one; so localfaas reads the deploy table below the command's own.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

DEFAULT_NAMES = ("samconfig.toml", "samconfig.yaml", "samconfig.yml")
DEFAULT_ENVIRONMENT = "default"


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file and what is wrong."""


def configured_overrides(
    template: Path, *, config_file: str | None, config_env: str | None, tables: tuple[str, ...]
) -> list[str]:
    """The parameter_overrides the first of `tables` (then global) holds, as --parameter-overrides
    arguments; [] when there is no configuration file or none of its tables sets them."""
    path = Path(config_file) if config_file else _default_file(template.resolve().parent)
    if path is None:
        return []
    config = _read(path)
    environment = config_env or DEFAULT_ENVIRONMENT
    commands = config.get(environment)
    if commands is None:
        if config_env is None:
            return []
        known = ", ".join(k for k, v in config.items() if isinstance(v, dict)) or "none"
        raise ConfigError(f"{path}: no environment {config_env!r} (environments: {known})")
    for table in (*tables, "global"):
        parameters = (commands.get(table) or {}).get("parameters") or {}
        value = parameters.get("parameter_overrides")
        if value is None:
            continue
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return value
        raise ConfigError(
            f"{path}: {environment}.{table}.parameters.parameter_overrides must be a string or a list of strings"
        )
    return []


def _default_file(project_root: Path) -> Path | None:
    return next((project_root / name for name in DEFAULT_NAMES if (project_root / name).is_file()), None)


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read configuration file {path}: {e.strerror}") from None
    if path.suffix in (".yaml", ".yml"):
        import yaml

        parse, invalid = yaml.safe_load, yaml.YAMLError
    else:
        parse, invalid = tomllib.loads, tomllib.TOMLDecodeError
    try:
        data = parse(text)
    except invalid as e:
        raise ConfigError(f"configuration file {path} cannot be parsed: {' '.join(str(e).split())}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"configuration file {path} must hold tables of environments")
    return {k: v for k, v in data.items() if isinstance(v, dict)}
