"""How long a log line may grow: every value in it is cut to a bounded size before it is written.

A log line carries what an event said (AuditLog logs each event, masked) and what went wrong (error
texts that may quote input), and an event's fields are only as long as its producer made them: a
1 MB field would make a 1 MB line, paid for as ingested logs and past what one CloudWatch Logs
event holds (256 KB, PutLogEvents: "CloudWatch Logs quotas"). So a text longer than
LONGEST_TEXT keeps its first LONGEST_TEXT characters and says how long it was, a list or an object
keeps its first LONGEST_COLLECTION items and says how many it had, and nesting stops at DEEPEST.
A traceback keeps its end, where the error is, and may be longer (LONGEST_TRACEBACK).

`bounded_json` is a Powertools Logger `json_serializer`: it sees the whole line (message, keys
appended, extra fields), so one place bounds every function's lines. Every handler makes its logger
with `bounded_logger()`; a contract test holds them to it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

__all__ = [
    "DEEPEST",
    "LONGEST_COLLECTION",
    "LONGEST_TEXT",
    "LONGEST_TRACEBACK",
    "bounded",
    "bounded_json",
    "bounded_logger",
]

LONGEST_TEXT = 256
LONGEST_COLLECTION = 50
DEEPEST = 8
LONGEST_TRACEBACK = 4096
# Powertools' keys for an exception's text; their end names the error, so the end is kept.
_TRACEBACK_KEYS = frozenset({"exception", "stack_trace"})


def bounded_logger() -> Logger:
    """The function's Powertools Logger, each value of its lines bounded by `bounded_json`."""
    from aws_lambda_powertools import (
        Logger,  # the handler has imported it already; tests of the rest need not
    )

    return Logger(json_serializer=bounded_json)


def bounded(value: Any, depth: int = 0) -> Any:
    """`value` with every text, list and object in it cut to its bound (JSON types; others as text)."""
    if isinstance(value, str):
        return _text(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth >= DEEPEST:
        return f"...(nested deeper than {DEEPEST})"
    if isinstance(value, dict):
        items = list(value.items())
        kept = {_text(str(k)): bounded(v, depth + 1) for k, v in items[:LONGEST_COLLECTION]}
        if len(items) > LONGEST_COLLECTION:
            kept["..."] = f"({len(items)} keys)"
        return kept
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        kept_items = [bounded(v, depth + 1) for v in items[:LONGEST_COLLECTION]]
        if len(items) > LONGEST_COLLECTION:
            kept_items.append(f"...({len(items)} items)")
        return kept_items
    if isinstance(value, bytes | bytearray):
        return f"({len(value)} bytes)"  # raw bytes say nothing readable in a line; their size does
    return _text(str(value))


def bounded_json(line: dict[str, Any]) -> str:
    """The log line as compact JSON, each value bounded (see the module's docstring)."""
    kept = {
        key: _traceback(value) if key in _TRACEBACK_KEYS and isinstance(value, str) else bounded(value)
        for key, value in line.items()
    }
    return json.dumps(kept, default=lambda o: _text(str(o)), separators=(",", ":"), ensure_ascii=False)


def _text(text: str) -> str:
    if len(text) <= LONGEST_TEXT:
        return text
    return f"{text[:LONGEST_TEXT]}...({len(text)} characters)"


def _traceback(text: str) -> str:
    if len(text) <= LONGEST_TRACEBACK:
        return text
    return f"({len(text)} characters)...{text[-LONGEST_TRACEBACK:]}"
