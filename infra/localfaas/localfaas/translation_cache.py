"""SAM translations kept on disk, keyed by what the translation depends on, so a command that loads an
unchanged template does not import aws-sam-translator at all (issue 15: importing it and translating
the template were 74 % of `localfaas invoke`).

The key is a SHA-256 of the template as parsed (local artifact paths already swapped for their
placeholders), the parameter values, the stack's place (region, account, stack name, partition),
aws-sam-translator's version and this module's FORMAT: any change to one is a new entry. Entries are
JSON files under translations/ in the user's localfaas cache (localfaas.user_cache), owner-only as
everything localfaas keeps, written atomically; an entry that cannot be read is translated again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from localfaas import owner_only
from localfaas.user_cache import cache_root

__all__ = ["cache_dir", "translated"]

log = logging.getLogger(__name__)
FORMAT = 1  # bump when what is cached, or how localfaas reads a translation, changes


def cache_dir() -> Path:
    return cache_root() / "translations"


def translated(
    template: dict[str, Any], key_parts: dict[str, Any], translate: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """The translation of `template` (with `key_parts`, what else it depends on), from the cache when an
    entry exists, else `translate()`, kept for next time."""
    directory = cache_dir()
    key = _key(template, key_parts)
    entry = directory / f"{key}.json"
    try:
        return json.loads(entry.read_text())
    except (OSError, ValueError):
        pass
    # Returned as it will read back, so a first and a cached load give the same template.
    text = json.dumps(translate(), default=str)
    try:
        owner_only.make_directory(directory)
        owner_only.write_atomically(entry, text.encode())
    except OSError as e:  # a read-only home: translate each time, as before
        log.debug("could not keep the translation in %s: %s", directory, e)
    return json.loads(text)


def _key(template: dict[str, Any], key_parts: dict[str, Any]) -> str:
    material = {
        "format": FORMAT,
        "translator": metadata.version("aws-sam-translator"),
        "template": template,
        **key_parts,
    }
    text = json.dumps(material, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
