"""Our field erasure gives what Powertools data masking gives, for every sample event of every type.

lambda_glue.erased stands in for `DataMasking().erase(wire, fields=...)` on the hot path (AuditLog
erases every event twice); this holds the two to the same output, so a Powertools upgrade that
changes its mask or its rules fails here rather than drifting silently.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities.data_masking import DataMasking
from aws_lambda_powertools.utilities.data_masking.constants import DATA_MASKING_STRING

from storefront.audit import ARCHIVE_ERASED_FIELDS, LOG_ERASED_FIELDS
from storefront.events import MalformedEvent, parse_event
from storefront.lambda_glue import MASK, erased, masked

EVENTS = Path(__file__).parents[2] / "events"


def _sample_wires() -> dict[str, dict]:
    """One wire form per event type found in events/ (Kafka values and EventBridge details; the SQS
    and HTTP API samples carry requests, not events)."""
    found: dict[str, dict] = {}
    for path in sorted(EVENTS.glob("*/*.json")):
        if path.parent.name in ("schemas", "scenarios"):
            continue
        sample = json.loads(path.read_text())
        if sample.get("eventSource") == "aws:kafka":
            raws = [
                base64.b64decode(r["value"]) for rs in sample["records"].values() for r in rs if "value" in r
            ]
        elif "detail" in sample:
            raws = [sample["detail"]]
        else:
            continue
        for raw in raws:
            try:
                event = parse_event(raw)
            except MalformedEvent:
                continue
            found.setdefault(event.event_type, event.to_wire())
    return found


SAMPLES = _sample_wires()


def powertools_erase(wire: dict, fields: tuple[str, ...]) -> dict:
    present = [name for name in fields if name in wire]  # Powertools refuses absent fields
    return DataMasking().erase(wire, fields=present) if present else wire


def test_our_mask_is_powertools_mask():
    assert MASK == DATA_MASKING_STRING


def test_samples_cover_the_events_with_personal_data():
    assert {"AccountRequested", "AccountCreated", "AccessDenied", "PaymentCompleted"} <= SAMPLES.keys()


@pytest.mark.parametrize("fields", [LOG_ERASED_FIELDS, ARCHIVE_ERASED_FIELDS], ids=["log", "archive"])
@pytest.mark.parametrize("event_type", sorted(SAMPLES))
def test_erased_event_is_what_powertools_gives(event_type, fields):
    wire = SAMPLES[event_type]

    assert erased(wire, fields) == powertools_erase(wire, fields)


def test_values_of_every_json_shape_are_erased_as_powertools_erases_them():
    wire = {"keep": 1, "text": "t", "number": 7, "object": {"a": 1}, "list": [1, 2, 3], "none": None}
    fields = ("text", "number", "object", "list", "none", "absent")

    assert erased(wire, fields) == powertools_erase(wire, fields)
    assert erased(wire, fields)["list"] == [MASK] * 3


def test_erasing_leaves_the_event_itself_unchanged():
    wire = SAMPLES["AccountRequested"]
    before = json.dumps(wire)

    masked(wire)

    assert json.dumps(wire) == before


def test_log_form_erases_personal_data_the_archive_form_only_secrets():
    wire = SAMPLES["AccountRequested"]

    assert masked(wire)["email"] == masked(wire)["passwordHash"] == MASK
    assert masked(wire, personal=False)["email"] == wire["email"] != MASK
    assert masked(wire, personal=False)["passwordHash"] == MASK
