"""Upcasters: turn an older schema version of an event into the current one before validation.

Each upcaster takes the wire dict of version N and returns the wire dict of version N+1, so the
rest of the code only ever sees current events (replays of old streams included).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from storefront.events import MalformedEvent, event_classes

Wire = dict[str, Any]


class UnknownSchemaVersion(MalformedEvent):
    """An event of a version newer than this code knows, or older with no upcaster."""


def _account_requested_v1_to_v2(event: Wire) -> Wire:
    # v1 had a single `name` field and no marketing consent: v2 splits nothing but renames it
    # and makes the consent explicit (absent consent is no consent).
    upgraded = {k: v for k, v in event.items() if k != "name"}
    upgraded["fullName"] = event.get("name", event.get("fullName"))
    upgraded.setdefault("marketingOptIn", False)
    upgraded["schemaVersion"] = 2
    return upgraded


UPCASTERS: dict[tuple[str, int], Callable[[Wire], Wire]] = {
    ("AccountRequested", 1): _account_requested_v1_to_v2,
}


@functools.cache  # asked for every event parsed; the catalogue is fixed once imported
def current_version(event_type: str) -> int | None:
    for cls in event_classes():
        if cls.model_fields["event_type"].default == event_type:
            return cls.model_fields["schema_version"].default
    return None


def upcast(event: Wire) -> Wire:
    """Apply upcasters until the event is at its type's current version."""
    event_type = event.get("eventType")
    target = current_version(event_type) if isinstance(event_type, str) else None
    if target is None:
        return event  # unknown types fail validation with a clear message
    version = event.get("schemaVersion", 1)
    while isinstance(version, int) and version < target:
        step = UPCASTERS.get((event_type, version))
        if step is None:
            raise UnknownSchemaVersion(f"{event_type} v{version} has no upcaster to v{version + 1}")
        event = step(event)
        version = event["schemaVersion"]
    if isinstance(version, int) and version > target:
        raise UnknownSchemaVersion(f"{event_type} v{version} is newer than this code (v{target})")
    return event
