"""The fulfilment centre's decisions: each order assembled once, whatever the queue delivers; no AWS."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from storefront.adapters.fulfilment import message_body
from storefront.events import Address, MalformedEvent, OrderLine
from storefront.fulfilment import FulfilmentRequest
from storefront.fulfilment_centre import assembly_request, take

NOW = datetime(2026, 11, 26, 9, 2, tzinfo=UTC)
REQUEST = FulfilmentRequest(
    request_id="FR-1",
    order_id="o-1",
    customer_id="c-1",
    lines=(OrderLine(sku="MUG-BLUE-350", quantity=2, unit_price_cents=1299),),
    shipping_address=Address(
        name="Ann Lee", line1="1 High St", city="Leeds", postal_code="LS1 1AA", country="GB"
    ),
    requested_at=NOW - timedelta(minutes=1),
)


def test_a_first_request_assembles_the_order_and_announces_it():
    taking = take(REQUEST, None, now=NOW)

    assert taking.assembly.request_id == "FR-1"
    assert taking.assembly.assembled_at == NOW
    assert taking.announcement.order_id == "o-1"
    assert taking.announcement.request_id == "FR-1"
    assert taking.announcement.lines == REQUEST.lines
    assert taking.announcement.occurred_at == NOW


def test_the_message_that_took_the_request_again_records_nothing_and_announces_the_identical_event():
    first = take(REQUEST, None, now=NOW, message_id="m-1")

    again = take(REQUEST, first.assembly, now=NOW + timedelta(hours=3), message_id="m-1")

    assert first.assembly.message_id == "m-1"
    assert again.assembly is None
    assert again.announcement == first.announcement  # same id and time: consumers drop the copy


def test_a_copy_of_the_taken_request_in_another_message_announces_nothing():
    # AssembleOrder's resend: the message that took the request announces (SQS redelivers it until it has).
    first = take(REQUEST, None, now=NOW, message_id="m-1")

    copy = take(REQUEST, first.assembly, now=NOW, message_id="m-2")

    assert copy.assembly is None
    assert copy.announcement is None


def test_an_assembly_recorded_without_its_message_is_announced_again_by_the_same_request():
    first = take(REQUEST, None, now=NOW)

    again = take(REQUEST, first.assembly, now=NOW, message_id="m-2")

    assert again.announcement == first.announcement


def test_another_request_for_an_assembled_order_is_not_taken():
    first = take(REQUEST, None, now=NOW)

    other = take(replace(REQUEST, request_id="FR-2"), first.assembly, now=NOW)

    assert other.assembly is None
    assert other.announcement is None


def test_announcements_of_different_requests_have_different_ids():
    assert (
        take(REQUEST, None, now=NOW).announcement.event_id
        != take(replace(REQUEST, request_id="FR-2"), None, now=NOW).announcement.event_id
    )


def test_the_message_assemble_order_sends_reads_back_as_the_request():
    body = json.dumps(message_body(REQUEST))

    assert assembly_request(body) == REQUEST


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"requestId": "FR-', "not JSON"),
        ('{"requestId": "FR-1", "orderId": "o-1"}', "customerId: missing"),
        ("[1, 2]", "invalid assembly request"),
    ],
)
def test_a_malformed_message_names_what_is_wrong_and_never_its_values(body, reason):
    with pytest.raises(MalformedEvent, match=reason) as caught:
        assembly_request(body)
    assert "o-1" not in str(caught.value)
    assert "\n" not in str(caught.value)
