"""The event catalogue: parsing, validation errors that name fields but never values, upcasting."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from storefront.events import AccountRequested, MalformedEvent, TicketClosed, announcement_id, parse_event
from storefront.upcasting import UnknownSchemaVersion
from tests.support.factories import at, payment

V2_REQUEST = {
    "eventType": "AccountRequested",
    "schemaVersion": 2,
    "eventId": "req-1",
    "occurredAt": "2026-11-26T09:00:00Z",
    "customerId": "c-1",
    "email": "ann@example.com",
    "fullName": "Ann Lee",
    "passwordHash": "secret-hash",
    "marketingOptIn": True,
}


def test_wire_form_round_trips():
    event = parse_event(json.dumps(V2_REQUEST).encode())
    assert isinstance(event, AccountRequested)
    assert parse_event(event.to_json()) == event


def test_json_form_is_the_wire_form_non_ascii_text_included():
    event = parse_event({**V2_REQUEST, "fullName": "Zoë Ångström"})
    paid = payment("o-1", "c-1", at(9))

    assert json.loads(event.to_json()) == event.to_wire()
    assert json.loads(paid.to_json()) == paid.to_wire()
    assert "Zoë Ångström" in event.to_json()


def test_not_json_is_malformed():
    with pytest.raises(MalformedEvent, match="not JSON"):
        parse_event(b"\x00\xffnot json")


def test_json_nested_too_deeply_is_malformed_not_a_recursion_error():
    with pytest.raises(MalformedEvent, match="nested too deeply"):
        parse_event(b"[" * 5000 + b"]" * 5000)


def test_json_that_is_not_an_object_is_malformed():
    with pytest.raises(MalformedEvent, match="JSON object"):
        parse_event(b"[1, 2]")


def test_unknown_event_type_is_malformed():
    with pytest.raises(MalformedEvent):
        parse_event({**V2_REQUEST, "eventType": "AccountDeleted"})


def test_event_type_that_is_not_a_type_name_is_not_echoed_it_may_be_anything():
    with pytest.raises(MalformedEvent) as error:
        parse_event({**V2_REQUEST, "eventType": "ann@example.com"})
    assert "ann@example.com" not in str(error.value)


def test_event_type_is_named_when_its_fields_are_invalid_or_it_is_unknown():
    with pytest.raises(MalformedEvent, match="invalid AccountRequested"):
        parse_event({**V2_REQUEST, "customerId": ""})
    with pytest.raises(MalformedEvent, match="invalid AccountDeleted"):
        parse_event({**V2_REQUEST, "eventType": "AccountDeleted"})


def test_validation_error_names_the_field_but_not_its_value():
    with pytest.raises(MalformedEvent) as error:
        parse_event({**V2_REQUEST, "email": "ann-at-example"})
    assert "email" in str(error.value)
    assert "ann-at-example" not in str(error.value)


def test_missing_event_id_is_malformed():
    wire = {k: v for k, v in V2_REQUEST.items() if k != "eventId"}
    with pytest.raises(MalformedEvent, match="eventId"):
        parse_event(wire)


def test_v1_account_request_is_upcast_to_v2():
    v1 = {k: v for k, v in V2_REQUEST.items() if k not in ("fullName", "marketingOptIn")}
    v1 |= {"schemaVersion": 1, "name": "Ann Lee"}
    event = parse_event(v1)
    assert event.schema_version == 2
    assert event.full_name == "Ann Lee"
    assert event.marketing_opt_in is False


def test_a_version_newer_than_the_code_is_refused():
    with pytest.raises(UnknownSchemaVersion, match="newer"):
        parse_event({**V2_REQUEST, "schemaVersion": 3})


def test_password_hash_is_not_in_the_repr():
    assert "secret-hash" not in repr(parse_event(V2_REQUEST))


def test_an_announcement_id_is_the_same_for_every_retry_and_differs_per_cause_and_kind():
    assert announcement_id("shp-1", "TicketClosed") == announcement_id("shp-1", "TicketClosed")
    assert announcement_id("shp-1", "TicketClosed") != announcement_id("shp-2", "TicketClosed")
    assert announcement_id("shp-1", "TicketClosed") != announcement_id("shp-1", "SupplyOrderPlaced")


def test_an_announced_event_takes_its_id_from_its_cause():
    cause = payment("o-7", "c-7", at(9))
    closed = TicketClosed.caused_by(cause, at=at(10), order_id="o-7", shipment_id="s-7")
    assert closed.event_id == announcement_id(cause.event_id, "TicketClosed")


def test_an_invalid_event_is_reported_as_the_union_reports_it_its_type_in_each_location():
    with pytest.raises(MalformedEvent) as error:
        parse_event({**V2_REQUEST, "customerId": "", "email": "ann-at-example"})
    assert str(error.value) == (
        "invalid AccountRequested: AccountRequested.customerId: string_too_short; "
        "AccountRequested.email: string_pattern_mismatch"
    )


@pytest.mark.parametrize("event_type", [["AccountRequested"], {"a": 1}, 7, None])
def test_an_event_type_of_any_json_value_is_malformed_not_a_crash(event_type):
    with pytest.raises(MalformedEvent, match="invalid event"):
        parse_event({**V2_REQUEST, "eventType": event_type})


def test_parsing_one_event_builds_only_its_own_model_not_the_catalogue():
    # The cold start's share of the models (BENCHMARKS.md): a fresh interpreter, as Lambda starts one.
    probe = (
        "import json, sys; from storefront import events; "
        "events.parse_event(json.loads(sys.argv[1])); "
        "print(sorted(c.__name__ for c in events.event_classes() if c.__pydantic_complete__))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(V2_REQUEST)], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["['AccountRequested']"]
