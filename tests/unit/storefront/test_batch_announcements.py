"""A batch's announcements go to the bus ten to a PutEvents request, after every record has run;
a record whose announcement the bus refused is reported failed, so the event source retries it."""

from __future__ import annotations

import logging

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from botocore.exceptions import ClientError

from storefront.adapters.bus import MAX_REQUEST_BYTES, EventBus
from storefront.lambda_glue import BatchAnnouncements, event_from_kafka, process_kafka_batch
from tests.support.factories import account_requested, at
from tests.support.kafka import msk_event, record


class Bus:
    """An EventBridge client that refuses the entries whose detail names a refused customer."""

    def __init__(self, refuse: tuple[str, ...] = (), fail_requests: bool = False) -> None:
        self.requests: list[list[dict]] = []
        self.refuse, self.fail_requests = refuse, fail_requests

    def put_events(self, Entries):
        self.requests.append(Entries)
        if self.fail_requests:
            raise ClientError({"Error": {"Code": "ThrottlingException"}}, "PutEvents")
        results = [
            {"ErrorCode": "InternalFailure"}
            if any(c in e["Detail"] for c in self.refuse)
            else {"EventId": "x"}
            for e in Entries
        ]
        return {"FailedEntryCount": sum("ErrorCode" in r for r in results), "Entries": results}


def requests(n: int) -> list:
    return [account_requested(f"c-{i:03}", at(9, i % 60)) for i in range(n)]


def test_23_announcements_take_three_requests_of_at_most_ten_in_order():
    client = Bus()

    assert EventBus(client, "bus").announce_all(requests(23)) == {}

    assert [len(r) for r in client.requests] == [10, 10, 3]
    sent = [e["Detail"] for r in client.requests for e in r]
    assert sent == [event.to_json() for event in requests(23)]


def test_a_request_stays_under_256_kb_whatever_the_count():
    client = Bus()
    big = [e.model_copy(update={"full_name": "x" * 100_000}) for e in requests(5)]

    EventBus(client, "bus").announce_all(big)

    assert [len(r) for r in client.requests] == [2, 2, 1]
    assert all(sum(len(e["Detail"]) for e in r) < MAX_REQUEST_BYTES for r in client.requests)


def test_refused_entries_are_named_by_their_index_and_a_failed_request_refuses_all_of_it():
    assert EventBus(Bus(refuse=("c-004", "c-011")), "bus").announce_all(requests(12)) == {
        4: "InternalFailure",
        11: "InternalFailure",
    }
    assert EventBus(Bus(fail_requests=True), "bus").announce_all(requests(3)) == {
        0: "ThrottlingException",
        1: "ThrottlingException",
        2: "ThrottlingException",
    }


def _batch(client: Bus, *, fail_customer: str | None = None):
    announcements = BatchAnnouncements(EventBus(client, "bus"))

    def record_handler(kafka_record) -> str:
        request = event_from_kafka(kafka_record)
        announcements.add(request)  # stands for what the reaction announces
        if request.customer_id == fail_customer:
            raise RuntimeError("the reaction failed after announcing")
        return "announced"

    records = [record("customer-accounts", event) for event in requests(12)]
    event = msk_event(*records)
    response = process_kafka_batch(
        event,
        None,
        record_handler=record_handler,
        processor=BatchProcessor(event_type=EventType.Kafka),
        logger=logging.getLogger("test"),
        announcements=announcements,
    )
    return records, response


def test_a_batch_announces_in_two_requests_after_its_twelve_records():
    client = Bus()

    _, response = _batch(client)

    assert response == {"batchItemFailures": []}
    assert [len(r) for r in client.requests] == [10, 2]


def test_the_record_whose_announcement_was_refused_is_reported_failed():
    records, response = _batch(Bus(refuse=("c-007",)))

    failed = records[7]
    assert response["batchItemFailures"] == [
        {"itemIdentifier": {"partition": f"customer-accounts-{failed.partition}", "offset": failed.offset}}
    ]


def test_a_failed_record_announces_nothing_and_is_reported_once():
    client = Bus()

    records, response = _batch(client, fail_customer="c-003")

    sent = [e["Detail"] for r in client.requests for e in r]
    assert len(sent) == 11 and not any("c-003" in d for d in sent)
    assert [f["itemIdentifier"]["offset"] for f in response["batchItemFailures"]] == [records[3].offset]


def test_outside_a_batch_an_announcement_is_put_at_once():
    client = Bus()

    BatchAnnouncements(EventBus(client, "bus")).add(*requests(2))

    assert [len(r) for r in client.requests] == [2]
