"""Every sample event in events/ has the exact shape AWS sends, and every function has them."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayProxyEventV2Model,
    EventBridgeModel,
    KafkaMskEventModel,
    SqsModel,
)

from storefront.events import MalformedEvent, parse_event
from storefront.front_door import BadRequest, account_requested, inventory_updated, request_body
from storefront.fulfilment_centre import assembly_request
from tests.support.stack import storefront_stack

EVENTS = Path(__file__).parents[2] / "events"
SAMPLES = sorted(p for p in EVENTS.glob("*/*.json") if p.parent.name not in ("schemas", "scenarios"))


def _is_kafka(sample: dict) -> bool:
    return sample.get("eventSource") == "aws:kafka"


def _is_sqs(sample: dict) -> bool:
    return bool(sample.get("Records")) and all(r.get("eventSource") == "aws:sqs" for r in sample["Records"])


def _is_http_api(sample: dict) -> bool:
    return sample.get("version") == "2.0" and "http" in sample.get("requestContext", {})


def _front_door_event(sample: dict):
    """The event an HTTP API request makes (BadRequest for one the front door refuses)."""
    body = request_body(sample["body"], is_base64_encoded=sample["isBase64Encoded"])
    if sample["routeKey"] == "POST /accounts":
        return account_requested(body, now=datetime.now(UTC), salt=b"0" * 16)
    assert sample["routeKey"] == "POST /inventory-counts", sample["routeKey"]
    return inventory_updated(body)


def _bus_event(body: str) -> dict | None:
    """The EventBridge event an SQS message carries (an EventBridge rule's SQS target), if it is one."""
    try:
        content = json.loads(body)
    except ValueError:
        return None
    return content if isinstance(content, dict) and "detail-type" in content else None


def _message_content(body: str):
    """A bus event's storefront event (AuditLog's queue), else an assembly request (FulfilOrder's)."""
    envelope = _bus_event(body)
    return parse_event(envelope["detail"]) if envelope is not None else assembly_request(body)


def _valid(sample: dict) -> bool:
    """The sample holds only what its function takes: events, requests, assembly requests."""
    try:
        if _is_kafka(sample):
            [parse_event(base64.b64decode(r["value"])) for rs in sample["records"].values() for r in rs]
        elif _is_sqs(sample):
            [_message_content(r["body"]) for r in sample["Records"]]
        elif _is_http_api(sample):
            _front_door_event(sample)
    except (MalformedEvent, BadRequest):
        return False
    return True


def _functions():
    stack = storefront_stack()
    return {fn.code_dir.name: logical_id for logical_id, fn in stack.functions.items()}


def _kafka_functions():
    stack = storefront_stack()
    folder_of = {fn.function_name: fn.code_dir.name for fn in stack.functions.values()}
    return {
        folder_of[m.properties["FunctionName"]]
        for m in stack.event_source_mappings
        if "Topics" in m.properties
    }


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_sample_parses_as_the_aws_event_model(path):
    sample = json.loads(path.read_text())
    if _is_kafka(sample):
        event = KafkaMskEventModel.model_validate(sample)
        for key, records in event.records.items():
            assert all(f"{r.topic}-{r.partition}" == key for r in records)
    elif _is_sqs(sample):
        event = SqsModel.model_validate(sample)
        for record in event.Records:
            assert hashlib.md5(record.body.encode()).hexdigest() == record.md5OfBody
            if (bus_event := _bus_event(record.body)) is not None:  # as EventBridge sends it
                assert EventBridgeModel.model_validate(bus_event).version == "0"
                parse_event(bus_event["detail"])
    elif _is_http_api(sample):
        event = APIGatewayProxyEventV2Model.model_validate(sample)
        assert event.routeKey == f"{event.requestContext.http.method} {event.rawPath}"
    else:
        event = EventBridgeModel.model_validate(sample)
        assert sample["version"] == "0"
        parse_event(event.detail)  # the detail is a storefront event


@pytest.mark.parametrize("folder", sorted(_functions()))
def test_every_function_has_a_valid_sample(folder):
    valid = [path for path in (EVENTS / folder).glob("*.json") if _valid(json.loads(path.read_text()))]
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


@pytest.mark.parametrize("folder", ["fulfil_order", "request_account", "post_inventory_count"])
def test_every_sqs_and_api_function_has_a_sample_it_refuses(folder):
    """Beside the valid sample, one the function must refuse: a malformed message, a bad request."""
    samples = [json.loads(p.read_text()) for p in (EVENTS / folder).glob("*.json")]
    if folder == "fulfil_order":  # a batch: some messages taken, some reported failed
        bodies = [r["body"] for s in samples for r in s["Records"]]
        outcomes = set()
        for body in bodies:
            try:
                assembly_request(body)
                outcomes.add("valid")
            except MalformedEvent:
                outcomes.add("malformed")
        assert outcomes == {"valid", "malformed"}
    else:
        assert not all(_valid(s) for s in samples), f"events/{folder}/ needs a request the front door refuses"


def test_every_http_api_sample_is_a_route_of_its_function():
    """A sample's routeKey and payload version are what the template's HttpApi sends that function."""
    from localfaas.api_routes import apis_from_stack

    stack = storefront_stack()
    folder_of = {fn.arn: fn.code_dir.name for fn in stack.functions.values()}
    routes = {
        (folder_of[r.function_arn], f"{r.method} {r.path}", r.payload_format)
        for api in apis_from_stack(stack)
        for r in api.routes
    }
    samples = {
        (path.parent.name, sample["routeKey"], sample["version"])
        for path in SAMPLES
        if _is_http_api(sample := json.loads(path.read_text()))
    }
    assert samples == routes
