"""Announcing domain events on the EventBridge bus.

PutEvents takes 1 to 10 entries a request, 256 KB in all, sized as "Calculating PutEvents event entry
size" says, and answers per entry: a request can succeed with some entries refused (FailedEntryCount,
an ErrorCode on each refused entry, in the order sent)
(https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html,
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html). `announce_all` sends a
batch's announcements in as few requests as that allows and says which were not accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from storefront.adapters.batch_requests import batch_requests
from storefront.events import DomainEvent

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

MAX_ENTRIES = 10
MAX_REQUEST_BYTES = 256 * 1024


class AnnouncementFailed(RuntimeError):
    """EventBridge refused an entry; the record fails so the event source retries it."""


class EventBus:
    def __init__(self, client: EventBridgeClient, bus_name: str) -> None:
        self._client = client
        self._bus_name = bus_name

    def announce(self, *events: DomainEvent) -> None:
        """Put every event on the bus, or raise AnnouncementFailed."""
        refused = self.announce_all(events)
        if refused:
            raise AnnouncementFailed(f"{len(refused)} event(s) not accepted: {sorted(set(refused.values()))}")

    def announce_all(self, events: Sequence[DomainEvent]) -> dict[int, str]:
        """Put the events on the bus, ten (or 256 KB) to a request; {index: error code} of those not
        accepted. A request that fails as a whole (after the client's retries) refuses all its entries."""
        refused: dict[int, str] = {}
        entries = [self._entry(event) for event in events]
        for first, chunk in batch_requests(
            entries, entry_size, max_entries=MAX_ENTRIES, max_bytes=MAX_REQUEST_BYTES
        ):
            try:
                answer = self._client.put_events(Entries=chunk)
            except (ClientError, BotoCoreError) as error:
                code = getattr(error, "response", {}).get("Error", {}).get("Code") or type(error).__name__
                refused.update((first + i, code) for i in range(len(chunk)))
                continue
            if answer.get("FailedEntryCount"):
                for i, result in enumerate(answer.get("Entries", ())):
                    if "ErrorCode" in result:
                        refused[first + i] = result["ErrorCode"]
        return refused

    def _entry(self, event: DomainEvent) -> dict[str, Any]:
        return {
            "EventBusName": self._bus_name,
            "Source": event.BUS_SOURCE,
            "DetailType": event.event_type,
            "Detail": event.to_json(),
            "Time": event.occurred_at,
            "Resources": [],
        }


def entry_size(entry: dict[str, Any]) -> int:
    """An entry's size as EventBridge counts it: Time is 14 bytes, then the UTF-8 of Source,
    DetailType, Detail and each resource."""
    size = 14 if entry.get("Time") is not None else 0
    size += sum(len(str(entry.get(name) or "").encode()) for name in ("Source", "DetailType", "Detail"))
    return size + sum(len(str(r).encode()) for r in entry.get("Resources") or ())
