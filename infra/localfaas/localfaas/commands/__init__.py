"""One module per CLI command; each exposes `register(subparsers)` that adds its parser and
sets `handler=` to a function taking the parsed args and returning an exit code."""

from __future__ import annotations

import importlib
import pkgutil


def register_all(subparsers) -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
