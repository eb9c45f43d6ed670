"""One module per CLI command; each exposes `register(subparsers)` that adds its parser and
sets `handler=` to a function taking the parsed args and returning an exit code.

A command's name is its module's with dashes (`start_api` is `start-api`); modules whose name
starts with an underscore are shared helpers. Only the command being run is imported (issue 15:
importing every command, graph included, was 13 % of `localfaas invoke`); help imports them all.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence


def command_names() -> list[str]:
    """Every command, without importing any."""
    return sorted(
        info.name.replace("_", "-")
        for info in pkgutil.iter_modules(__path__)
        if not info.name.startswith("_")
    )


def register_all(subparsers, argv: Sequence[str] | None = None) -> None:
    """Register the command `argv` names (its first word that is not an option), or, when it names
    none that exists (help, a typo), every command, so argparse can list them."""
    names = command_names()
    named = next((word for word in argv or () if not word.startswith("-")), None)
    for name in [named] if named in names else names:
        module = importlib.import_module(f"{__name__}.{name.replace('-', '_')}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
