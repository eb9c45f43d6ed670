"""Emails sent and SNS publishes, counted through the services' APIs from a baseline: the same figures
for a second stack (or run) on a backend that still holds the first one's."""

from __future__ import annotations

import pytest

from localfaas.backend import MotoBackend
from localfaas.outbound import Outbound, tap_queue_name

SENDER = "sender@example.com"


@pytest.fixture
def backend():
    with MotoBackend(account_id="111122223333", reset=True) as moto:
        moto.client("ses").verify_email_identity(EmailAddress=SENDER)
        yield moto


def send_emails(backend, n: int) -> None:
    for i in range(n):
        backend.client("ses").send_email(
            Source=SENDER,
            Destination={"ToAddresses": [f"customer-{i}@example.com"]},
            Message={"Subject": {"Data": "hello"}, "Body": {"Text": {"Data": "welcome"}}},
        )


def publish(backend, topic_arn: str, n: int) -> None:
    for i in range(n):
        backend.client("sns").publish(TopicArn=topic_arn, Message=f"alert {i}")


def test_emails_are_counted_from_the_baseline_not_from_the_accounts_quota(backend):
    send_emails(backend, 3)  # an earlier run's, in the account's SentLast24Hours
    outbound = Outbound(backend.client, [], tap=True)
    outbound.start(None)

    send_emails(backend, 2)

    assert outbound.emails_sent() == 2
    assert backend.client("ses").get_send_quota()["SentLast24Hours"] == 5


def test_publishes_to_a_topic_are_counted_by_its_tap_queue(backend):
    alerts = backend.client("sns").create_topic(Name="alerts")["TopicArn"]
    other = backend.client("sns").create_topic(Name="other")["TopicArn"]
    outbound = Outbound(backend.client, ["alerts", "other"], tap=True)
    outbound.start(None)

    publish(backend, alerts, 3)
    publish(backend, other, 1)

    assert (outbound.published("alerts"), outbound.published("other")) == (3, 1)
    url = backend.client("sqs").get_queue_url(QueueName=tap_queue_name(alerts))["QueueUrl"]
    assert url  # the tap is an ordinary queue, read through SQS


def test_a_second_run_on_the_same_backend_reports_its_own_publishes(backend):
    alerts = backend.client("sns").create_topic(Name="alerts")["TopicArn"]
    first = Outbound(backend.client, ["alerts"], tap=True)
    first.start(None)
    publish(backend, alerts, 4)

    second = Outbound(backend.client, ["alerts"], tap=True)
    second.start(None)
    publish(backend, alerts, 4)

    assert (first.published("alerts"), second.published("alerts")) == (8, 4)
    topic_subscriptions = backend.client("sns").list_subscriptions_by_topic(TopicArn=alerts)["Subscriptions"]
    assert len(topic_subscriptions) == 1  # the same tap, subscribed once


def test_a_resumed_run_keeps_the_baseline_it_saved(backend):
    alerts = backend.client("sns").create_topic(Name="alerts")["TopicArn"]
    saved = Outbound(backend.client, ["alerts"], tap=True).start(None)
    publish(backend, alerts, 2)
    send_emails(backend, 1)

    resumed = Outbound(backend.client, ["alerts"], tap=True)
    resumed.start(saved)

    assert (resumed.published("alerts"), resumed.emails_sent()) == (2, 1)


def test_without_taps_publishes_are_not_available(backend):
    backend.client("sns").create_topic(Name="alerts")
    outbound = Outbound(backend.client, ["alerts"], tap=False)
    outbound.start(None)

    assert outbound.published("alerts") is None
    assert backend.client("sqs").list_queues().get("QueueUrls", []) == []
