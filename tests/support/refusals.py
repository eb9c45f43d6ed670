"""EventBridge refusing part of a PutEvents request, as it does per entry.

PutEvents can succeed as a request with some entries refused: FailedEntryCount, and an ErrorCode on
each refused entry of Entries, in the order sent
(https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html). moto never refuses
an entry, so a test wraps the client's put_events with this.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def refusing_the_last(put_events: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """put_events that puts every entry of a request but its last, which it refuses."""

    def put(Entries: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
        accepted = put_events(Entries=Entries[:-1], **params)["Entries"] if len(Entries) > 1 else []
        refused = {"ErrorCode": "InternalFailure", "ErrorMessage": "refused by the test"}
        return {"FailedEntryCount": 1, "Entries": [*accepted, refused]}

    return put
