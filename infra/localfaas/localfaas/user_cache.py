"""Where localfaas keeps what it can make again, shared by every project of this user: built
packages (build.py) and SAM translations (translation_cache.py). $LOCALFAAS_CACHE_DIR moves it;
by default $XDG_CACHE_HOME/localfaas, else ~/.cache/localfaas."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_root"]


def cache_root() -> Path:
    configured = os.environ.get("LOCALFAAS_CACHE_DIR")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "localfaas"
