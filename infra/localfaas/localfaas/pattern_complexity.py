"""EventBridge's refusal of wildcard patterns that are too complex to match quickly.

PutRule and TestEventPattern refuse a pattern whose wildcards make matching too non-deterministic:
"Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences
after a wildcard character". The measure is event-ruler's MachineComplexityEvaluator
(https://github.com/aws/event-ruler, its README's "Matching with a Machine"): for the wildcard values
of one field, the most "wildcard rule prefixes" that one input string can match at once, where a
prefix is any leading part of a pattern ("a*b*" has "a", "a*", "a*b", "a*b*") and a prefix shared by
several patterns counts once for each. `*a*a*a*` scores 7, the same pattern given twice still 7.

EventBridge does not publish its threshold; localfaas refuses a field scoring more than
`WILDCARD_COMPLEXITY_LIMIT`, the threshold another emulator (gopherstack's eventpattern package)
states for AWS. Not emulated: the JSON quotes event-ruler's byte machine also steps through, which
shift no score of these examples.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["TOO_COMPLEX", "WILDCARD_COMPLEXITY_LIMIT", "too_complex_fields", "wildcard_complexity"]

WILDCARD_COMPLEXITY_LIMIT = 10
TOO_COMPLEX = (
    "Rule is too complex - try using fewer wildcard characters or fewer repeating character "
    "sequences after a wildcard character"
)
_ANY = None  # a pattern token that is a wildcard
_OTHER = "\0other"  # an input character no pattern names
_MAX_SUBSETS = 100_000  # a bound on the work; no real field comes near it


def _tokens(text: str) -> tuple[str | None, ...]:
    """Characters and wildcards (None), escapes undone; the text is a valid wildcard value."""
    tokens: list[str | None] = []
    escaped = False
    for char in text:
        if escaped:
            tokens.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            tokens.append(_ANY if char == "*" else char)
    return tuple(tokens)


def wildcard_complexity(values: Iterable[str], cap: int = WILDCARD_COMPLEXITY_LIMIT + 1) -> int:
    """The most prefixes of `values` one input matches at once, counted up to `cap`.

    A state is (pattern, length of the prefix read); a prefix ending in a wildcard stays active on any
    character, and a wildcard is also passed over without reading one. Subsets of states are explored
    over the characters the patterns name plus one they do not."""
    patterns = list(dict.fromkeys(_tokens(value) for value in values))  # a repeated value counts once
    alphabet = {token for pattern in patterns for token in pattern if token is not _ANY} | {_OTHER}

    def closure(states: Iterable[tuple[int, int]]) -> frozenset[tuple[int, int]]:
        done: set[tuple[int, int]] = set()
        pending = list(states)
        while pending:
            state = pending.pop()
            if state in done:
                continue
            done.add(state)
            index, length = state
            if length < len(patterns[index]) and patterns[index][length] is _ANY:
                pending.append((index, length + 1))  # the wildcard may match nothing
        return frozenset(done)

    def step(states: frozenset[tuple[int, int]], char: str) -> frozenset[tuple[int, int]]:
        following = []
        for index, length in states:
            pattern = patterns[index]
            if length and pattern[length - 1] is _ANY:
                following.append((index, length))  # a prefix ending in a wildcard reads any character
            if length < len(pattern) and pattern[length] == char:
                following.append((index, length + 1))
        return closure(following)

    start = closure((index, 0) for index in range(len(patterns)))
    seen = {start}
    pending = [start]
    worst = 0
    while pending and len(seen) < _MAX_SUBSETS:
        states = pending.pop()
        for char in alphabet:
            following = step(states, char)
            if not following or following in seen:
                continue
            worst = max(worst, len(following))
            if worst >= cap:
                return cap
            seen.add(following)
            pending.append(following)
    return worst if pending == [] else cap


def too_complex_fields(pattern: dict[str, Any]) -> list[str]:
    """The dotted paths of `pattern` whose wildcard values score above the limit, $or branches of one
    path counted together, as they share event-ruler's machine for that field."""
    by_path: dict[str, list[str]] = {}
    for path, value in _wildcard_values(pattern, ""):
        by_path.setdefault(path, []).append(value)
    return [
        path for path, values in by_path.items() if wildcard_complexity(values) > WILDCARD_COMPLEXITY_LIMIT
    ]


def _wildcard_values(obj: dict[str, Any], prefix: str) -> Iterator[tuple[str, str]]:
    for key, value in obj.items():
        if key == "$or" and isinstance(value, list):
            for branch in value:
                if isinstance(branch, dict):
                    yield from _wildcard_values(branch, prefix)
        elif isinstance(value, dict):
            yield from _wildcard_values(value, f"{prefix}{key}.")
        elif isinstance(value, list):
            for item in value:
                yield from ((f"{prefix}{key}", text) for text in _wildcards_of(item))


def _wildcards_of(item: Any) -> list[str]:
    if not isinstance(item, dict) or len(item) != 1:
        return []
    ((name, argument),) = item.items()
    if name == "wildcard" and isinstance(argument, str):
        return [argument]
    if name == "anything-but" and isinstance(argument, dict) and len(argument) == 1:
        inner = argument.get("wildcard")
        values = inner if isinstance(inner, list) else [inner]
        return [value for value in values if isinstance(value, str)]
    return []
