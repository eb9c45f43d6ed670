"""Every sample event in events/ has the exact shape AWS sends, and every function has them."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel, KafkaMskEventModel

from storefront.events import MalformedEvent, parse_event
from tests.support.stack import storefront_stack

EVENTS = Path(__file__).parents[2] / "events"
SAMPLES = sorted(p for p in EVENTS.glob("*/*.json") if p.parent.name not in ("schemas", "scenarios"))


def _is_kafka(sample: dict) -> bool:
    return sample.get("eventSource") == "aws:kafka"


def _functions():
    stack = storefront_stack()
    return {fn.code_dir.name: logical_id for logical_id, fn in stack.functions.items()}


def _kafka_functions():
    stack = storefront_stack()
    folder_of = {fn.function_name: fn.code_dir.name for fn in stack.functions.values()}
    return {folder_of[m.properties["FunctionName"]] for m in stack.event_source_mappings}


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_sample_parses_as_the_aws_event_model(path):
    sample = json.loads(path.read_text())
    if _is_kafka(sample):
        event = KafkaMskEventModel.model_validate(sample)
        for key, records in event.records.items():
            assert all(f"{r.topic}-{r.partition}" == key for r in records)
    else:
        event = EventBridgeModel.model_validate(sample)
        assert sample["version"] == "0"
        parse_event(event.detail)  # the detail is a storefront event


@pytest.mark.parametrize("folder", sorted(_functions()))
def test_every_function_has_a_valid_sample(folder):
    valid = []
    for path in (EVENTS / folder).glob("*.json"):
        sample = json.loads(path.read_text())
        if _is_kafka(sample):
            values = [base64.b64decode(r["value"]) for rs in sample["records"].values() for r in rs]
            try:
                [parse_event(v) for v in values]
            except MalformedEvent:
                continue
        valid.append(path)
    assert valid, f"events/{folder}/ has no sample event with only valid records"


@pytest.mark.parametrize("folder", sorted(_kafka_functions()))
def test_every_kafka_function_has_a_mixed_batch(folder):
    mixed = list((EVENTS / folder).glob("*mixed-batch.json"))
    assert mixed, f"events/{folder}/ needs a *-mixed-batch.json"
    sample = json.loads(mixed[0].read_text())
    outcomes = []
    for records in sample["records"].values():
        for r in records:
            try:
                parse_event(base64.b64decode(r["value"]))
                outcomes.append("valid")
            except MalformedEvent:
                outcomes.append("malformed")
    assert {"valid", "malformed"} <= set(outcomes), f"{mixed[0].name} must mix valid and malformed records"
