"""Fixtures shared by all storefront tests."""

from __future__ import annotations

import io
import json
import logging

import boto3
import pytest

from tests.support.lambda_context import FakeLambdaContext
from tests.support.stack import REGION, load_handler, provision_stack, storefront_stack


@pytest.fixture(scope="session")
def stack():
    return storefront_stack()


@pytest.fixture
def aws(monkeypatch):
    """moto for every AWS call, with credentials that could never reach a real account."""
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def provisioned(aws, stack):
    """The template's tables, queues, topics, buckets, bus and SES identity, on moto."""
    provision_stack(stack)
    return stack


@pytest.fixture
def handler(provisioned, monkeypatch):
    """Load a function's handler with the environment template.yaml gives it."""

    def load(function: str):
        for name, value in provisioned.function(function).environment.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", function)
        return load_handler(provisioned, function)

    return load


@pytest.fixture
def lambda_context():
    return FakeLambdaContext()


class BusSpy:
    """Everything announced on the storefront bus, caught by a rule with an SQS target."""

    def __init__(self, stack) -> None:
        self._sqs = boto3.client("sqs", region_name=REGION)
        events = boto3.client("events", region_name=REGION)
        bus = stack.physical_names["StorefrontBus"]
        self._url = self._sqs.create_queue(QueueName="bus-spy")["QueueUrl"]
        arn = self._sqs.get_queue_attributes(QueueUrl=self._url, AttributeNames=["QueueArn"])["Attributes"]
        events.put_rule(
            Name="bus-spy", EventBusName=bus, EventPattern=json.dumps({"source": [{"prefix": "storefront."}]})
        )
        events.put_targets(Rule="bus-spy", EventBusName=bus, Targets=[{"Id": "spy", "Arn": arn["QueueArn"]}])

    def events(self) -> list[dict]:
        caught = []
        while True:
            batch = self._sqs.receive_message(QueueUrl=self._url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return caught
            for message in batch:
                caught.append(json.loads(message["Body"]))
                self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"])

    def detail_types(self) -> list[str]:
        return [event["detail-type"] for event in self.events()]


@pytest.fixture
def bus_spy(provisioned):
    return BusSpy(provisioned)


def queue_messages(stack, logical_id: str) -> list[dict]:
    """Drain a template queue and return the JSON bodies."""
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName=stack.physical_names[logical_id])["QueueUrl"]
    bodies = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


@pytest.fixture
def queue(provisioned):
    return lambda logical_id: queue_messages(provisioned, logical_id)


@pytest.fixture
def function_logs():
    """`function_logs(app)`: a StringIO receiving the function's log lines as Powertools formats them.

    capsys misses them: Powertools configures a service's logger once, so its handler keeps the
    stdout of whichever test first imported a handler of that service (a closed capture later on).
    """
    attached = []

    def capture(app) -> io.StringIO:
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(app.logger.registered_formatter)
        app.logger.addHandler(handler)
        attached.append((app.logger, handler))
        return stream

    yield capture
    for logger, handler in attached:
        logger.removeHandler(handler)
