"""The exported JSON Schemas are the event models, and every sample event honours them."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from storefront.events import event_classes, parse_event
from storefront.schemas import exported_schemas, schema_file_name

SCHEMAS = Path(__file__).parents[2] / "events" / "schemas"


@pytest.mark.parametrize("name", sorted(exported_schemas()))
def test_committed_schema_equals_the_model(name):
    committed = SCHEMAS / name
    assert committed.exists(), f"run: python -m storefront.schemas events/schemas ({name} is missing)"
    assert committed.read_text() == exported_schemas()[name], f"{name} is stale: re-export the schemas"


def test_every_event_class_has_a_schema():
    assert {schema_file_name(c) for c in event_classes()} <= {p.name for p in SCHEMAS.glob("*.json")}


def test_schema_requires_the_discriminator():
    for text in exported_schemas().values():
        assert {"eventType", "schemaVersion", "eventId", "occurredAt"} <= set(json.loads(text)["required"])


@pytest.mark.parametrize("cls", event_classes(), ids=lambda c: c.__name__)
def test_schema_rejects_unknown_fields(cls):
    schema = json.loads(exported_schemas()[schema_file_name(cls)])
    assert schema["additionalProperties"] is False


def test_an_event_valid_by_schema_parses_with_the_model():
    wire = {
        "eventType": "ShipmentArrived",
        "schemaVersion": 1,
        "eventId": "e-1",
        "occurredAt": "2026-11-26T10:00:00Z",
        "orderId": "o-1",
        "shipmentId": "s-1",
        "carrier": "DHL",
    }
    schema = json.loads((SCHEMAS / "ShipmentArrived.v1.schema.json").read_text())
    jsonschema.validate(wire, schema)
    assert parse_event(wire).aggregate_id == "o-1"
