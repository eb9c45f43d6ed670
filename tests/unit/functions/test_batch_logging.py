"""Every Kafka reaction logs a batch once at INFO (counts by outcome), each failed record at WARNING,
and each record's work only at DEBUG: AuditLog logs every event already, masked."""

from __future__ import annotations

import json

import pytest

from tests.support.factories import access_denied, account_requested, arrival, at, inventory, payment
from tests.support.kafka import msk_event, record

REACTIONS = {
    "CreateAccount": ("customer-accounts", lambda n: account_requested(f"c-{n}", at(9, n))),
    "AssembleOrder": ("payments", lambda n: payment(f"o-{n}", f"c-{n}", at(9, n))),
    "CloseSalesTicket": ("shipments", lambda n: arrival(f"o-{n}", at(9, n))),
    "ReorderLowStock": ("inventory", lambda n: inventory(f"SKU-{n}", at(9, n), on_hand=1)),
    "LockAccount": ("security", lambda n: access_denied(f"c-{n}", at(9, n), n)),
}


@pytest.fixture(params=sorted(REACTIONS))
def reaction(request):
    return request.param


@pytest.fixture
def app(handler, reaction):
    return handler(reaction)


def batch(reaction: str):
    topic, event = REACTIONS[reaction]
    good = [record(topic, event(n)) for n in range(1, 4)]
    malformed = record(topic, b'{"eventType": "leak@example.com"}', key="k-9")
    return msk_event(*good, malformed), malformed


def test_a_batch_is_one_info_line_counting_its_records_and_one_warning_per_failure(
    app, reaction, lambda_context, function_logs
):
    logs = function_logs(app)
    event, malformed = batch(reaction)

    app.lambda_handler(event, lambda_context)

    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert [(line["level"], line["message"]) for line in lines] == [
        ("WARNING", "record failed"),
        ("INFO", "batch processed"),
    ]
    failure, summary = lines
    assert (failure["topic"], failure["offset"]) == (REACTIONS[reaction][0], malformed.offset)
    assert failure["error"].startswith("MalformedEvent")
    assert (summary["records"], summary["failed"], sum(summary["outcomes"].values())) == (4, 1, 3)
    assert "leak@example.com" not in logs.getvalue()


def test_at_debug_each_record_has_its_line_and_none_carries_the_record_values(
    app, reaction, lambda_context, debug_logs
):
    event, _ = batch(reaction)

    app.lambda_handler(event, lambda_context)

    lines = [json.loads(line) for line in debug_logs.getvalue().splitlines()]
    assert sum(line["level"] == "DEBUG" for line in lines) >= 3
    assert "leak@example.com" not in debug_logs.getvalue()
    assert "example.com" not in debug_logs.getvalue()  # no customer's email either
    assert "Lovelace" not in debug_logs.getvalue()
