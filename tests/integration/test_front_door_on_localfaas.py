"""The storefront's front door end to end: `localfaas up --log kafka` on a real broker (Tansu), and a
real HTTP client posting to the HTTP API it serves. A customer's request goes through the API, lands on
its Kafka topic keyed by customer, CreateAccount stores the account and SendAccountConfirmation emails
once; a warehouse's low count ends in one supply order. Waits are bounded; nothing is timed."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest

from tests.support.stack import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.kafka]

WAIT_S = 120.0
ACCOUNT = {
    "email": "grace@example.com",
    "fullName": "Grace Hopper",
    "password": "correct horse battery staple",
}
COUNT = {
    "sku": "MUG-BLUE-350",
    "warehouseId": "WH-LEEDS",
    "onHand": 4,
    "reorderPoint": 10,
    "reorderQuantity": 50,
    "countedAt": "2026-11-26T09:15:00Z",
}


class Up:
    def __init__(self, process: subprocess.Popen, state: Path, topics: dict[str, str]) -> None:
        self.process, self.state, self.topics = process, state, topics

    @property
    def endpoints(self) -> dict:
        return json.loads((self.state / "endpoints.json").read_text())

    def client(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.endpoints["backend"],
            region_name="us-east-1",
            aws_access_key_id="localfaas",
            aws_secret_access_key="localfaas",
        )

    def table(self, logical_id: str) -> list[dict]:
        dynamodb = self.client("dynamodb")
        [name] = [t for t in dynamodb.list_tables()["TableNames"] if t.endswith(f"-{logical_id}")]
        return dynamodb.scan(TableName=name, ConsistentRead=True)["Items"]

    def emails_sent(self) -> int:
        return int(self.client("ses").get_send_quota()["SentLast24Hours"])


def wait_for(condition: Callable[[], object], what: str, up: Up) -> object:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if up.process.poll() is not None:
            pytest.fail(f"localfaas up exited ({up.process.returncode}) while waiting for {what}")
        time.sleep(0.2)
    pytest.fail(f"no {what} within {WAIT_S} s")


@pytest.fixture(scope="module")
def up(tansu_bootstrap, tmp_path_factory) -> Iterator[Up]:
    """`localfaas up` producing and consuming on Tansu; fresh topic names keep other tests' records out."""
    state = tmp_path_factory.mktemp("front-door") / ".localfaas"
    run = uuid.uuid4().hex[:8]
    topics = {"CustomerAccountsTopic": f"customer-accounts-{run}", "InventoryTopic": f"inventory-{run}"}
    overrides = [
        f"KafkaBootstrapServers={tansu_bootstrap}",
        "KafkaClientAuthentication=NONE",
        *(f"{name}={topic}" for name, topic in topics.items()),
    ]
    err = (state.parent / "up.err").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "localfaas.cli",
            "up",
            "--log",
            "kafka",
            "--bootstrap-servers",
            tansu_bootstrap,
            "--runtime",
            "in-process",
            "--endpoints-file",
            str(state / "endpoints.json"),
            "--parameter-overrides",
            *overrides,
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=err,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )
    stack = Up(process, state, topics)
    try:
        wait_for(lambda: (state / "endpoints.json").exists(), "up's endpoints file", stack)
        yield stack
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        err.close()


def post(up: Up, path: str, body: object) -> tuple[int, dict]:
    request = urllib.request.Request(
        up.endpoints["api"] + path,
        data=body.encode() if isinstance(body, str) else json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def topic_records(bootstrap: str, topic: str) -> list:
    from confluent_kafka import Consumer

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"test-{uuid.uuid4()}", "auto.offset.reset": "earliest"}
    )
    try:
        consumer.subscribe([topic])
        records, deadline = [], time.monotonic() + 30
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None and not message.error():
                records.append(message)
            elif records:
                return records
        return records
    finally:
        consumer.close()


def test_an_account_requested_through_the_api_is_created_and_confirmed_once(up, tansu_bootstrap):
    status, answer = post(up, "/accounts", ACCOUNT)
    assert status == 202, answer

    [record] = topic_records(tansu_bootstrap, up.topics["CustomerAccountsTopic"])
    assert record.key() == answer["customerId"].encode()
    assert json.loads(record.value())["eventId"] == answer["eventId"]
    [account] = wait_for(
        lambda: [a for a in up.table("AccountsTable") if "confirmationEmailMessageId" in a],
        "the confirmed account",
        up,
    )
    assert account["customerId"]["S"] == answer["customerId"]
    assert account["email"]["S"] == "grace@example.com"
    assert up.emails_sent() == 1

    # The customer's client sends it again (its answer was lost): the same event, nothing new.
    assert post(up, "/accounts", ACCOUNT) == (202, answer)
    wait_for(
        lambda: len(topic_records(tansu_bootstrap, up.topics["CustomerAccountsTopic"])) == 2,
        "the second copy on the topic",
        up,
    )
    assert len(up.table("AccountsTable")) == 1
    assert up.emails_sent() == 1


def test_a_bad_request_is_400_with_its_reason_and_reaches_no_topic(up, tansu_bootstrap):
    status, answer = post(up, "/accounts", {"email": "not-an-email", "fullName": "X", "password": "x" * 12})
    assert (status, answer) == (400, {"message": "invalid account request: email: string_pattern_mismatch"})
    assert post(up, "/accounts", "{not json") == (400, {"message": "the body is not JSON"})


def test_a_low_count_posted_by_a_warehouse_places_one_supply_order(up):
    status, answer = post(up, "/inventory-counts", COUNT)
    assert (status, answer["sku"]) == (202, "MUG-BLUE-350")

    [order] = wait_for(lambda: up.table("SupplyOrdersTable"), "the supply order", up)
    assert (order["sku"]["S"], order["quantity"]["N"]) == ("MUG-BLUE-350", "50")


def test_up_stops_with_nothing_lost(up):
    # Last in the module (pytest runs a module's tests in order): after the requests above.
    up.process.send_signal(signal.SIGINT)
    up.process.wait(timeout=WAIT_S)
    report = (up.state.parent / "up.err").read_text()
    assert up.process.returncode == 0, report[-3000:]
    assert "Traceback" not in report
    assert re.search(r"SQS messages waiting: FailedRecordsQueue +0\n", report), report[-3000:]
    assert re.search(r"SQS messages waiting: FailedEventsQueue +0\n", report), report[-3000:]
    assert "NOTHING LOST" in report
