"""SendAccountConfirmation: AccountCreated on the bus -> one confirmation email through SES."""

from __future__ import annotations

import copy

import pytest
from moto.ses.models import ses_backends

from storefront.adapters.mail import EmailNotSent
from storefront.events import MalformedEvent
from tests.support.aws_faults import FAULTS, aws_calls, each_call_failing
from tests.support.stack import load_handler, sample_event

SAMPLE = "send_account_confirmation/account-created.json"
CUSTOMER_EMAIL = "customer1@example.com"  # the sample's customer


@pytest.fixture
def app(handler):
    return handler("SendAccountConfirmation")


@pytest.fixture
def logs(app, function_logs):
    return function_logs(app)


def sent() -> list:
    return ses_backends["123456789012"]["us-east-1"].sent_messages


def test_created_account_gets_one_confirmation_email(app, lambda_context):
    app.lambda_handler(sample_event(SAMPLE), lambda_context)

    [email] = sent()
    assert email.source == "no-reply@storefront.example.com"
    assert email.destinations["ToAddresses"] == [CUSTOMER_EMAIL]
    assert email.subject == "Your storefront account is ready"
    assert "cust-1001" in email.body
    assert "argon2" not in email.body


def test_redelivered_event_sends_no_second_email(app, lambda_context):
    app.lambda_handler(sample_event(SAMPLE), lambda_context)
    app.lambda_handler(sample_event(SAMPLE) | {"id": "5e0c9a11-0000-4000-8000-0000000000ff"}, lambda_context)

    assert len(sent()) == 1


def test_each_created_account_gets_its_own_email(app, lambda_context):
    other = copy.deepcopy(sample_event(SAMPLE))
    other["detail"] |= {"eventId": "created-2", "customerId": "cust-2002", "email": "ana@example.org"}

    app.lambda_handler(sample_event(SAMPLE), lambda_context)
    app.lambda_handler(other, lambda_context)

    assert sorted(e.destinations["ToAddresses"][0] for e in sent()) == ["ana@example.org", CUSTOMER_EMAIL]


def test_malformed_detail_fails_and_sends_nothing(app, lambda_context):
    broken = copy.deepcopy(sample_event(SAMPLE))
    broken["detail"]["email"] = "not-an-address"

    with pytest.raises(MalformedEvent, match="email"):
        app.lambda_handler(broken, lambda_context)
    assert sent() == []


def test_other_event_type_fails_rather_than_emailing(app, lambda_context):
    with pytest.raises(MalformedEvent, match="unexpected AccountLocked"):
        app.lambda_handler(sample_event("notify_security/account-locked.json"), lambda_context)
    assert sent() == []


def test_ses_refusal_fails_with_its_code_only_and_a_retry_sends(
    handler, provisioned, monkeypatch, lambda_context
):
    handler("SendAccountConfirmation")
    monkeypatch.setenv("SENDER_EMAIL_ADDRESS", "unverified@storefront.example.com")
    refused = load_handler(provisioned, "SendAccountConfirmation")

    with pytest.raises(EmailNotSent) as error:
        refused.lambda_handler(sample_event(SAMPLE), lambda_context)
    assert str(error.value) == "SES MessageRejected"

    # The failed attempt left no mark behind: Lambda's retry sends the email.
    monkeypatch.setenv("SENDER_EMAIL_ADDRESS", "no-reply@storefront.example.com")
    load_handler(provisioned, "SendAccountConfirmation").lambda_handler(sample_event(SAMPLE), lambda_context)
    assert len(sent()) == 1


def test_email_address_never_reaches_the_logs(app, logs, lambda_context):
    app.lambda_handler(sample_event(SAMPLE), lambda_context)

    assert "account confirmation sent" in logs.getvalue()
    assert CUSTOMER_EMAIL not in logs.getvalue()
    assert "customer1" not in logs.getvalue()


# --- each AWS call failing in turn, then the retry ---------------------------------------------


def created(n: int) -> dict:
    event = copy.deepcopy(sample_event(SAMPLE))
    event["detail"] |= {"eventId": f"created-{n}", "customerId": f"cust-{n}", "email": f"c{n}@example.com"}
    return event


def mark_refused(trial) -> bool:
    """The mark's write refused after its attempts: the email is sent, the invocation succeeds, and
    only the mark could have answered a redelivery (no Powertools record behind it any more)."""
    return trial.fault == "refused" and trial.failed == ("dynamodb", "UpdateItem")


@pytest.mark.parametrize("fault", FAULTS)
def test_any_call_failing_then_the_retry_sends_one_email_and_answers_its_id(
    app, lambda_context, monkeypatch, fault
):
    tried = set()
    for trial in each_call_failing(monkeypatch, fault, app.lambda_handler, created, lambda_context):
        n, failed, answer = trial.n, trial.failed, trial.answer
        tried.add(failed)
        emails = [e for e in sent() if e.destinations["ToAddresses"] == [f"c{n}@example.com"]]
        if trial.repeats(("ses", "SendEmail")) or mark_refused(trial):
            assert len(emails) == 2, failed  # answer lost, or died before the mark: as the README says
        else:
            assert len(emails) == 1, failed
        assert answer == emails[-1].id, failed
        assert app.lambda_handler(created(n), lambda_context) == answer  # and it stays answered
    # The effects were among the calls failed.
    assert {("ses", "SendEmail"), ("dynamodb", "UpdateItem")} <= tried


# --- what an event costs ----------------------------------------------------------------------


def test_an_event_costs_the_mark_read_the_email_and_the_mark_and_a_redelivery_only_the_read(
    app, lambda_context, monkeypatch
):
    with aws_calls(monkeypatch) as calls:
        first = app.lambda_handler(created(1), lambda_context)
        made = list(calls.made)
        again = app.lambda_handler(created(1) | {"id": "another-delivery"}, lambda_context)

    assert made == [("dynamodb", "GetItem"), ("ses", "SendEmail"), ("dynamodb", "UpdateItem")]
    assert calls.made[len(made) :] == [("dynamodb", "GetItem")]
    assert again == first
    assert len(sent()) == 1
