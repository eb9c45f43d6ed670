"""Announcing domain events on the EventBridge bus."""

from __future__ import annotations

from typing import TYPE_CHECKING

from storefront.events import DomainEvent

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient


class AnnouncementFailed(RuntimeError):
    """EventBridge refused an entry; the record fails so the event source retries it."""


class EventBus:
    def __init__(self, client: EventBridgeClient, bus_name: str) -> None:
        self._client = client
        self._bus_name = bus_name

    def announce(self, *events: DomainEvent) -> None:
        if not events:
            return
        entries = [
            {
                "EventBusName": self._bus_name,
                "Source": event.BUS_SOURCE,
                "DetailType": event.event_type,
                "Detail": event.to_json(),
                "Time": event.occurred_at,
                "Resources": [],
            }
            for event in events
        ]
        response = self._client.put_events(Entries=entries)
        if response.get("FailedEntryCount"):
            codes = sorted({e.get("ErrorCode", "?") for e in response["Entries"] if "ErrorCode" in e})
            raise AnnouncementFailed(f"{response['FailedEntryCount']} event(s) not accepted: {codes}")
