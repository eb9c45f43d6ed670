"""Whether sys.modules may hold names it did not hold when last looked at, without listing them.

The in-process runtime sets aside other copies of a function's modules on each call, which means
knowing every module loaded since its last look; comparing the whole of sys.modules costs tens of
microseconds with boto3 loaded. The import system asks every finder on sys.meta_path before it
loads a module that is not in sys.modules, so a finder that answers "not mine" and counts the
questions, together with the number of names in sys.modules, says cheaply whether anything may
have changed. Not seen: a name put into sys.modules by hand while another is taken out.
https://docs.python.org/3/reference/import.html#the-meta-path (The import system: the meta path)
"""

from __future__ import annotations

import sys
from typing import Any


class _ImportCounter:
    """A meta path finder that finds nothing and counts what it was asked to find."""

    def __init__(self) -> None:
        self.lookups = 0

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        self.lookups += 1
        return None


_COUNTER = _ImportCounter()


def watch_imports() -> None:
    """Put the counter first on sys.meta_path (once), so it is asked before any finder answers."""
    if _COUNTER not in sys.meta_path:
        sys.meta_path.insert(0, _COUNTER)


def modules_mark() -> tuple[int, int]:
    """Differs from an earlier mark once a module has been loaded or the number of names changed."""
    return len(sys.modules), _COUNTER.lookups
