"""Cutting a list of entries into the requests of a batch API (PutEvents, SendMessageBatch): in order,
at most `max_entries` a request and `max_bytes` of entries, as each service sizes them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

Entry = dict[str, Any]


def batch_requests(
    entries: list[Entry], size: Callable[[Entry], int], *, max_entries: int, max_bytes: int
) -> Iterator[tuple[int, list[Entry]]]:
    """(index of the first entry, entries) per request, in order. An entry over `max_bytes` alone
    still gets a request of its own, for the service to refuse by name."""
    first, chunk, total = 0, [], 0
    for index, entry in enumerate(entries):
        this = size(entry)
        if chunk and (len(chunk) == max_entries or total + this > max_bytes):
            yield first, chunk
            first, chunk, total = index, [], 0
        chunk.append(entry)
        total += this
    if chunk:
        yield first, chunk
