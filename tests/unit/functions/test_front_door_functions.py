"""RequestAccount and PostInventoryCount: an HTTP API request (payload 2.0) -> 202 and its event on
the topic, keyed by aggregate id; a bad request -> 400 with a one-line reason and nothing produced;
a broker that does not take it -> 503. The Kafka producer is a fake that acknowledges like librdkafka."""

from __future__ import annotations

import base64
import copy
import json
import sys
import time
import types
from urllib.parse import unquote

import pytest

from storefront.adapters.topics import producer_config
from storefront.events import AccountRequested, InventoryUpdated, parse_event
from tests.support.stack import sample_event


class _Delivered:
    def __init__(self, topic: str, offset: int) -> None:
        self._topic, self._offset = topic, offset

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset


class _KafkaError:
    def str(self) -> str:
        return "Local: Message timed out"


class FakeProducer:
    """confluent_kafka.Producer's produce/flush: the delivery callback runs in flush, as librdkafka's does."""

    def __init__(self, *, fails: bool = False) -> None:
        self.records: list[dict] = []
        self._pending: list = []
        self._fails = fails

    def produce(self, topic, *, key, value, headers, on_delivery):
        self.records.append({"topic": topic, "key": key, "value": value, "headers": headers})
        self._pending.append((topic, on_delivery))

    def flush(self, timeout):
        for topic, on_delivery in self._pending:
            if self._fails:
                on_delivery(_KafkaError(), None)
            else:
                on_delivery(None, _Delivered(topic, len(self.records) - 1))
        self._pending.clear()
        return 0


@pytest.fixture
def front_door(provisioned, monkeypatch):
    """A front door function's handler with the template's environment, over a local broker address
    that nothing dials (the fake producer replaces the real one)."""
    from tests.support.stack import load_handler

    def load(function: str, producer: FakeProducer):
        for name, value in provisioned.function(function).environment.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9")
        monkeypatch.setenv("KAFKA_AUTHENTICATION", "NONE")
        app = load_handler(provisioned, function)
        monkeypatch.setattr(app.topics, "_producer", producer)
        return app

    return load


def http_request(sample: str, body: str | None = None) -> dict:
    event = copy.deepcopy(sample_event(sample))
    if body is not None:
        event["body"] = body
    return event


def answer(response: dict) -> tuple[int, dict]:
    return response["statusCode"], json.loads(response["body"])


def test_an_account_request_is_accepted_and_produced_keyed_by_customer(front_door, lambda_context):
    producer = FakeProducer()
    app = front_door("RequestAccount", producer)

    status, body = answer(
        app.lambda_handler(http_request("request_account/account-request.json"), lambda_context)
    )

    assert status == 202
    [record] = producer.records
    assert record["topic"] == "customer-accounts"
    event = parse_event(record["value"])
    assert isinstance(event, AccountRequested)
    assert record["key"] == event.customer_id.encode() == body["customerId"].encode()
    assert body["eventId"] == event.event_id
    assert event.email == "customer7@example.com"
    assert event.password_hash.startswith("$scrypt$")
    assert b"correct horse battery staple" not in record["value"]
    assert ("content-type", b"application/json") in record["headers"]


def test_a_bad_account_request_gets_400_with_one_line_and_produces_nothing(front_door, lambda_context):
    producer = FakeProducer()
    app = front_door("RequestAccount", producer)

    response = app.lambda_handler(
        http_request("request_account/account-request-invalid.json"), lambda_context
    )

    status, body = answer(response)
    assert status == 400
    assert body["message"] == ("invalid account request: email: string_pattern_mismatch; password: too_short")
    assert response["headers"]["Content-Type"] == "application/json"
    assert producer.records == []


def test_a_body_that_is_not_json_gets_400(front_door, lambda_context):
    app = front_door("RequestAccount", FakeProducer())

    status, body = answer(
        app.lambda_handler(http_request("request_account/account-request.json", "{nope"), lambda_context)
    )

    assert (status, body) == (400, {"message": "the body is not JSON"})


def test_a_broker_that_does_not_take_the_event_gets_503_to_retry(front_door, lambda_context, function_logs):
    app = front_door("RequestAccount", FakeProducer(fails=True))
    logs = function_logs(app)

    response = app.lambda_handler(http_request("request_account/account-request.json"), lambda_context)

    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == "5"
    assert "Message timed out" in logs.getvalue()
    assert "customer7@example.com" not in logs.getvalue()


def test_an_inventory_count_is_accepted_and_produced_keyed_by_sku(front_door, lambda_context):
    producer = FakeProducer()
    app = front_door("PostInventoryCount", producer)

    status, body = answer(
        app.lambda_handler(http_request("post_inventory_count/inventory-count.json"), lambda_context)
    )

    assert (status, body["sku"]) == (202, "MUG-BLUE-350")
    [record] = producer.records
    assert (record["topic"], record["key"]) == ("inventory", b"MUG-BLUE-350")
    event = parse_event(record["value"])
    assert isinstance(event, InventoryUpdated)
    assert (event.on_hand, event.reorder_point) == (4, 10)  # below the point: ReorderLowStock will order


def test_a_bad_count_gets_400_naming_each_field(front_door, lambda_context):
    producer = FakeProducer()
    app = front_door("PostInventoryCount", producer)

    response = app.lambda_handler(
        http_request("post_inventory_count/inventory-count-invalid.json"), lambda_context
    )

    status, body = answer(response)
    assert status == 400
    assert body["message"] == (
        "invalid inventory count: sku: string_pattern_mismatch; onHand: greater_than_equal; countedAt: missing"
    )
    assert producer.records == []


def test_a_route_the_function_does_not_serve_is_404(front_door, lambda_context):
    app = front_door("PostInventoryCount", FakeProducer())
    event = http_request("post_inventory_count/inventory-count.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/inventory"

    assert app.lambda_handler(event, lambda_context)["statusCode"] == 404


# --- the producer's configuration -------------------------------------------------------------


def test_iam_authentication_signs_in_with_an_msk_iam_token(monkeypatch):
    signer = types.ModuleType("aws_msk_iam_sasl_signer")
    calls = []

    class MSKAuthTokenProvider:
        @staticmethod
        def generate_auth_token(region):
            calls.append(region)
            return "signed-token", 1_795_684_500_000

    signer.MSKAuthTokenProvider = MSKAuthTokenProvider
    monkeypatch.setitem(sys.modules, "aws_msk_iam_sasl_signer", signer)

    config = producer_config("b-1:9098", authentication="IAM", region="eu-west-2")

    assert (config["security.protocol"], config["sasl.mechanism"]) == ("SASL_SSL", "OAUTHBEARER")
    assert config["enable.idempotence"] is True
    assert config["oauth_cb"]("") == ("signed-token", 1_795_684_500.0)  # seconds, as librdkafka wants
    assert calls == ["eu-west-2"]


def test_the_real_signer_makes_a_token_for_the_functions_credentials(monkeypatch):
    """aws-msk-iam-sasl-signer-python signs locally (a presigned kafka-cluster:Connect URL), no network."""
    pytest.importorskip("aws_msk_iam_sasl_signer", reason="a dev dependency in pyproject.toml, not installed")
    for name, value in {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"}.items():
        monkeypatch.setenv(name, value)

    token, expiry_s = producer_config("b-1:9098", authentication="IAM", region="us-east-1")["oauth_cb"]("")

    url = unquote(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode())
    assert "kafka-cluster:Connect" in url and "X-Amz-Signature=" in url
    assert expiry_s > time.time()


def test_no_authentication_is_a_plain_connection():
    config = producer_config("127.0.0.1:9092", authentication="NONE", region="us-east-1")

    assert "security.protocol" not in config and "oauth_cb" not in config
    assert config["bootstrap.servers"] == "127.0.0.1:9092"


def test_an_unknown_authentication_is_refused_by_name():
    with pytest.raises(ValueError, match="KAFKA_AUTHENTICATION must be one of IAM, NONE, not 'SCRAM'"):
        producer_config("b-1:9096", authentication="SCRAM", region="us-east-1")
