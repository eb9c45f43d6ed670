"""SAM translations kept on disk, keyed by what the translation depends on, so a command that loads an
unchanged template does not import aws-sam-translator at all (issue 15: importing it and translating
the template were 74 % of `localfaas invoke`).

The key is a SHA-256 of the template as parsed (local artifact paths already swapped for their
placeholders), the parameter values, the stack's place (region, account, stack name, partition),
aws-sam-translator's version and this module's FORMAT: any change to one is a new entry. Entries are
JSON files under translations/ in the user's localfaas cache (localfaas.user_cache), owner-only as
everything localfaas keeps, written atomically; an entry that cannot be read is translated again.

The template's parse is kept the same way, under parsed/, keyed by its text (and aws-sam-translator's
version, whose YAML loader reads CloudFormation's tags): parsing the repository's template took 80 ms
a load, more than the rest of loading it, and a `localfaas invoke` that starts a stack loads it twice.
A parse is kept only when it reads back from JSON as it was (a YAML date or binary value would not).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from localfaas import owner_only
from localfaas.user_cache import cache_root

__all__ = ["cache_dir", "parsed", "translated"]

log = logging.getLogger(__name__)
FORMAT = 1  # bump when what is cached, or how localfaas reads a translation, changes


def cache_dir() -> Path:
    return cache_root() / "translations"


def parsed(text: str, parse: Callable[[str], Any]) -> Any:
    """parse(text), from the cache when an entry exists, else parsed and kept if JSON holds it as it is."""
    directory = cache_root() / "parsed"
    material = f"{FORMAT}\n{_translator_version()}\n{text}"
    entry = directory / f"{hashlib.sha256(material.encode()).hexdigest()}.json"
    try:
        return json.loads(entry.read_text())
    except (OSError, ValueError):
        pass
    value = parse(text)
    try:
        kept = json.dumps(value)
    except (TypeError, ValueError):  # a YAML date, a binary value: parsed each time
        return value
    if json.loads(kept) == value:
        _keep(directory, entry, kept)
    return value


def _keep(directory: Path, entry: Path, text: str) -> None:
    try:
        owner_only.make_directory(directory)
        owner_only.write_atomically(entry, text.encode())
    except OSError as e:  # a read-only home: work it out each time, as before
        log.debug("could not keep %s: %s", entry.name, e)


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
    _keep(directory, entry, text)
    return json.loads(text)


@functools.cache
def _translator_version() -> str:
    return metadata.version("aws-sam-translator")  # a scan of the installed distributions: once


def _key(template: dict[str, Any], key_parts: dict[str, Any]) -> str:
    material = {
        "format": FORMAT,
        "translator": _translator_version(),
        "template": template,
        **key_parts,
    }
    text = json.dumps(material, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
