"""A batch's fulfilment requests go to SQS ten to a SendMessageBatch, before the batch's
announcements; a record whose request SQS did not take is reported failed and announces nothing."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from botocore.exceptions import ClientError

from storefront.adapters.bus import EventBus
from storefront.adapters.fulfilment import MAX_REQUEST_BYTES, FulfilmentQueue
from storefront.events import Address, OrderLine
from storefront.fulfilment import FulfilmentRequest
from storefront.lambda_glue import BatchMessages, MessagesRefused, event_from_kafka, process_kafka_batch
from tests.support.factories import account_requested, at
from tests.support.kafka import msk_event, record
from tests.unit.storefront.test_batch_announcements import Bus


class Sqs:
    """An SQS client that fails the entries whose body names a refused order."""

    def __init__(self, refuse: tuple[str, ...] = (), fail_requests: bool = False) -> None:
        self.requests: list[list[dict]] = []
        self.refuse, self.fail_requests = refuse, fail_requests

    def send_message_batch(self, QueueUrl, Entries):
        self.requests.append(Entries)
        if self.fail_requests:
            raise ClientError({"Error": {"Code": "RequestThrottled"}}, "SendMessageBatch")
        refused = [e for e in Entries if json.loads(e["MessageBody"])["orderId"] in self.refuse]
        return {
            "Successful": [{"Id": e["Id"], "MessageId": "m"} for e in Entries if e not in refused],
            "Failed": [{"Id": e["Id"], "SenderFault": False, "Code": "InternalError"} for e in refused],
        }


def fulfilment_request(n: int) -> FulfilmentRequest:
    return FulfilmentRequest(
        request_id=f"FR-{n}",
        order_id=f"o-{n:03}",
        customer_id=f"c-{n:03}",
        lines=(OrderLine(sku="MUG-BLUE-350", quantity=1, unit_price_cents=1299),),
        shipping_address=Address(name="A", line1="1 High St", city="Leeds", postal_code="LS1", country="GB"),
        requested_at=datetime(2026, 11, 26, 9, 0, tzinfo=UTC),
    )


def test_23_requests_take_three_sends_of_at_most_ten_in_order():
    client = Sqs()

    assert FulfilmentQueue(client, "url").send_all([fulfilment_request(n) for n in range(23)]) == {}

    assert [len(r) for r in client.requests] == [10, 10, 3]
    assert [json.loads(e["MessageBody"])["requestId"] for r in client.requests for e in r] == [
        f"FR-{n}" for n in range(23)
    ]
    assert all(len({e["Id"] for e in r}) == len(r) for r in client.requests)  # unique in a request


def test_a_send_stays_under_256_kib_whatever_the_count():
    client = Sqs()
    long_lines = tuple(OrderLine(sku=f"SKU-{i:05}", quantity=1, unit_price_cents=1) for i in range(1500))
    big = [replace(fulfilment_request(n), lines=long_lines) for n in range(5)]

    FulfilmentQueue(client, "url").send_all(big)

    assert len(client.requests) > 1
    assert all(sum(len(e["MessageBody"]) for e in r) < MAX_REQUEST_BYTES for r in client.requests)


def test_failed_entries_are_named_by_index_and_a_failed_send_fails_all_of_it():
    queue = FulfilmentQueue(Sqs(refuse=("o-004", "o-011")), "url")
    assert queue.send_all([fulfilment_request(n) for n in range(12)]) == {
        4: "InternalError",
        11: "InternalError",
    }
    failing = FulfilmentQueue(Sqs(fail_requests=True), "url")
    assert failing.send_all([fulfilment_request(n) for n in range(3)]) == dict.fromkeys(
        range(3), "RequestThrottled"
    )


def _batch(sqs: Sqs, bus: Bus):
    outbox = BatchMessages(EventBus(bus, "bus"), FulfilmentQueue(sqs, "url"))

    def record_handler(kafka_record) -> str:
        event = event_from_kafka(kafka_record)
        n = int(event.customer_id.removeprefix("c-"))
        outbox.put(fulfilment_request(n))
        outbox.add(event)  # stands for what the reaction announces
        return "announced"

    records = [record("customer-accounts", account_requested(f"c-{n:03}", at(9, n))) for n in range(12)]
    response = process_kafka_batch(
        msk_event(*records),
        None,
        record_handler=record_handler,
        processor=BatchProcessor(event_type=EventType.Kafka),
        logger=logging.getLogger("test"),
        announcements=outbox,
    )
    return records, response


def test_a_batch_sends_its_requests_then_announces_in_two_requests_each():
    sqs, bus = Sqs(), Bus()

    _, response = _batch(sqs, bus)

    assert response == {"batchItemFailures": []}
    assert [len(r) for r in sqs.requests] == [10, 2]
    assert [len(r) for r in bus.requests] == [10, 2]


def test_a_record_whose_request_was_not_taken_fails_and_announces_nothing():
    bus = Bus()

    records, response = _batch(Sqs(refuse=("o-005",)), bus)

    assert [f["itemIdentifier"]["offset"] for f in response["batchItemFailures"]] == [records[5].offset]
    announced = [e["Detail"] for r in bus.requests for e in r]
    assert len(announced) == 11 and not any("c-005" in d for d in announced)


def test_a_record_refused_by_both_is_reported_once():
    records, response = _batch(Sqs(refuse=("o-002",)), Bus(refuse=("c-002", "c-009")))

    assert sorted(f["itemIdentifier"]["offset"] for f in response["batchItemFailures"]) == sorted(
        [records[2].offset, records[9].offset]
    )


def test_outside_a_batch_a_request_is_sent_at_once_and_a_refusal_raised():
    sqs = Sqs(refuse=("o-001",))
    outbox = BatchMessages(EventBus(Bus(), "bus"), FulfilmentQueue(sqs, "url"))

    outbox.put(fulfilment_request(0))
    with pytest.raises(MessagesRefused):
        outbox.put(fulfilment_request(1))

    assert [len(r) for r in sqs.requests] == [1, 1]
