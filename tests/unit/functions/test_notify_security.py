"""NotifySecurity: AccountLocked on the bus -> one alert on the security SNS topic."""

from __future__ import annotations

import copy
import json

import boto3
import pytest
from moto.sns.models import sns_backends

from storefront.events import MalformedEvent
from tests.support.aws_faults import FAULTS, aws_calls, each_call_failing
from tests.support.stack import sample_event

SAMPLE = "notify_security/account-locked.json"


@pytest.fixture
def app(handler):
    return handler("NotifySecurity")


@pytest.fixture
def logs(app, function_logs):
    return function_logs(app)


@pytest.fixture
def alerts(provisioned):
    """What a subscriber of the security topic receives: an SQS queue subscribed to it."""
    sqs, sns = boto3.client("sqs"), boto3.client("sns")
    url = sqs.create_queue(QueueName="security-team")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic_arn = provisioned.function("NotifySecurity").environment["SECURITY_ALERTS_TOPIC_ARN"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)

    def received() -> list[dict]:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    return received


def test_locked_account_is_alerted_once_with_its_numbers(app, alerts, lambda_context):
    app.lambda_handler(sample_event(SAMPLE), lambda_context)

    [alert] = alerts()
    assert alert["Subject"] == "Storefront account locked: cust-1001"
    for expected in [
        "customerId: cust-1001",
        "deniedAttempts: 3",
        "windowSeconds: 900",
        "lockedAt: 2026-11-26T",
    ]:
        assert expected in alert["Message"]
    assert alert["MessageAttributes"]["eventType"]["Value"] == "AccountLocked"


def test_redelivered_event_publishes_nothing_more(app, alerts, lambda_context):
    app.lambda_handler(sample_event(SAMPLE), lambda_context)
    app.lambda_handler(sample_event(SAMPLE), lambda_context)

    assert len(alerts()) == 1


def test_reannounced_event_in_a_new_envelope_publishes_nothing_more(app, alerts, lambda_context):
    # LockAccount re-announces the same AccountLocked (same eventId) after a crash: a new envelope id.
    again = sample_event(SAMPLE) | {"id": "5e0c9a11-0000-4000-8000-0000000000ff"}

    app.lambda_handler(sample_event(SAMPLE), lambda_context)
    app.lambda_handler(again, lambda_context)

    assert len(alerts()) == 1


def test_another_lock_is_alerted_too(app, alerts, lambda_context):
    other = copy.deepcopy(sample_event(SAMPLE))
    other["detail"] |= {"eventId": "another-lock", "customerId": "cust-2002"}

    app.lambda_handler(sample_event(SAMPLE), lambda_context)
    app.lambda_handler(other, lambda_context)

    assert sorted(a["Subject"][-9:] for a in alerts()) == ["cust-1001", "cust-2002"]


def test_event_without_a_storefront_detail_fails_and_publishes_nothing(app, alerts, lambda_context):
    broken = copy.deepcopy(sample_event(SAMPLE))
    del broken["detail"]["deniedAttempts"]

    with pytest.raises(MalformedEvent, match="deniedAttempts"):
        app.lambda_handler(broken, lambda_context)
    assert alerts() == []


def test_other_event_type_fails_rather_than_alerting(app, alerts, lambda_context):
    created = sample_event("send_account_confirmation/account-created.json")

    with pytest.raises(MalformedEvent, match="unexpected AccountCreated"):
        app.lambda_handler(created, lambda_context)
    assert alerts() == []


def test_alert_failure_raises_so_lambda_retries_and_a_retry_publishes(
    app, alerts, lambda_context, monkeypatch
):
    def unavailable(*args, **kwargs):
        raise ConnectionError("SNS unavailable")

    monkeypatch.setattr(app.alerts, "publish", unavailable)
    with pytest.raises(ConnectionError):
        app.lambda_handler(sample_event(SAMPLE), lambda_context)
    monkeypatch.undo()

    app.lambda_handler(sample_event(SAMPLE), lambda_context)
    assert len(alerts()) == 1


def test_log_line_names_the_event_not_personal_data(app, logs, alerts, lambda_context):
    app.lambda_handler(sample_event(SAMPLE), lambda_context)

    [line] = [json.loads(entry) for entry in logs.getvalue().splitlines()]
    assert (line["message"], line["event_type"], line["aggregate_id"]) == (
        "security alerted",
        "AccountLocked",
        "cust-1001",
    )


def test_the_same_account_locked_again_later_is_alerted_again(app, alerts, lambda_context):
    again = copy.deepcopy(sample_event(SAMPLE))
    again["detail"] |= {"eventId": "a-later-lock"}

    app.lambda_handler(sample_event(SAMPLE), lambda_context)
    app.lambda_handler(again, lambda_context)

    assert len(alerts()) == 2


# --- each AWS call failing in turn, then the retry ---------------------------------------------


def locked(n: int) -> dict:
    event = copy.deepcopy(sample_event(SAMPLE))
    event["detail"] |= {"eventId": f"locked-{n}", "customerId": f"cust-{n}"}
    return event


def published_for(provisioned, event_id: str) -> list[str]:
    """The MessageIds SNS gave the alerts about `event_id` (moto keeps every publish of a topic)."""
    arn = provisioned.function("NotifySecurity").environment["SECURITY_ALERTS_TOPIC_ARN"]
    topic = sns_backends["123456789012"]["us-east-1"].topics[arn]
    return [
        message_id
        for message_id, _, _, attributes, _ in topic.sent_notifications
        if attributes["eventId"]["Value"] == event_id
    ]


def mark_refused(trial) -> bool:
    """The mark's write refused after its attempts: the alert is out, the invocation succeeds, and
    only the mark could have answered a redelivery (no Powertools record behind it any more)."""
    return trial.fault == "refused" and trial.failed == ("dynamodb", "UpdateItem")


@pytest.mark.parametrize("fault", FAULTS)
def test_any_call_failing_then_the_retry_publishes_one_alert_and_answers_its_id(
    app, provisioned, lambda_context, monkeypatch, fault
):
    tried = set()
    for trial in each_call_failing(monkeypatch, fault, app.lambda_handler, locked, lambda_context):
        n, failed, answer = trial.n, trial.failed, trial.answer
        tried.add(failed)
        published = published_for(provisioned, f"locked-{n}")
        if trial.repeats(("sns", "Publish")) or mark_refused(trial):
            assert len(published) == 2, failed  # answer lost, or died before the mark: as the README says
        else:
            assert len(published) == 1, failed
        assert answer == published[-1], failed
        assert app.lambda_handler(locked(n), lambda_context) == answer
    # The effects were among the calls failed.
    assert {("sns", "Publish"), ("dynamodb", "UpdateItem")} <= tried


# --- what an event costs ----------------------------------------------------------------------


def test_an_event_costs_the_mark_read_the_alert_and_the_mark_and_a_redelivery_only_the_read(
    app, provisioned, lambda_context, monkeypatch
):
    with aws_calls(monkeypatch) as calls:
        first = app.lambda_handler(locked(1), lambda_context)
        made = list(calls.made)
        again = app.lambda_handler(locked(1) | {"id": "another-delivery"}, lambda_context)

    assert made == [("dynamodb", "GetItem"), ("sns", "Publish"), ("dynamodb", "UpdateItem")]
    assert calls.made[len(made) :] == [("dynamodb", "GetItem")]
    assert again == first
    assert len(published_for(provisioned, "locked-1")) == 1
