"""Throttled calls: each service's own throttling error, as botocore's standard retry mode sees it, on
both paths (moto's server over HTTP, botocore's before-send in this process), functions' calls only."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.retries import standard

from localfaas.backend import MotoBackend
from localfaas.faults import Dice
from localfaas.throttling import THROTTLED_SERVICES, Throttler, install_in_process

# One harmless call per service, and the throttle it must answer with.
CALLS = {
    "dynamodb": ("list_tables", {}, 400, "ThrottlingException"),
    "ses": ("list_identities", {}, 400, "Throttling"),
    "sesv2": ("list_email_identities", {}, 429, "TooManyRequestsException"),
    "sns": ("list_topics", {}, 400, "Throttling"),
    "sqs": ("list_queues", {}, 400, "RequestThrottled"),
    "s3": ("list_buckets", {}, 503, "SlowDown"),
    "events": ("list_event_buses", {}, 400, "ThrottlingException"),
    "secretsmanager": ("list_secrets", {}, 400, "ThrottlingException"),
    "lambda": ("list_functions", {}, 429, "TooManyRequestsException"),
}


def test_every_throttled_service_is_covered_here():
    assert set(CALLS) == set(THROTTLED_SERVICES)


@pytest.fixture(scope="module")
def throttled_moto():
    always = Throttler(1.0, Dice(0))
    with MotoBackend(middleware=always.wsgi) as backend:
        yield backend


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    # botocore sleeps up to a second before a throttled retry; these tests count retries, not time.
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)


def functions_client(service, endpoint_url=None):
    """A client as a function makes one: standard retry mode, no localfaas user agent."""
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    config = Config(retries={"mode": "standard", "total_max_attempts": 2})
    return session.client(service, endpoint_url=endpoint_url, config=config)


def call_and_classify(client, operation, params):
    """Make the call; return the ClientError and whether botocore's standard mode judged each
    attempt's answer a throttle (its own ThrottlingErrorDetector, on the kwargs it retries on)."""
    detector = standard.ThrottlingErrorDetector(standard.RetryEventAdapter())
    verdicts = []
    client.meta.events.register_first(
        "needs-retry.*", lambda **kwargs: verdicts.append(detector.is_throttling_error(**kwargs))
    )
    with pytest.raises(ClientError) as error:
        getattr(client, operation)(**params)
    return error.value, verdicts


@pytest.mark.parametrize("service", sorted(CALLS))
def test_the_server_throttles_with_the_services_own_error_and_botocore_retries_it_as_a_throttle(
    throttled_moto, service
):
    operation, params, status, code = CALLS[service]
    error, verdicts = call_and_classify(
        functions_client(service, throttled_moto.endpoint_url), operation, params
    )
    assert error.response["Error"]["Code"] == code
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert error.response["ResponseMetadata"]["RetryAttempts"] == 1  # standard mode retried it
    assert verdicts == [True, True]


@pytest.mark.parametrize("service", sorted(CALLS))
def test_localfaas_own_calls_are_never_throttled(throttled_moto, service):
    operation, params, _, _ = CALLS[service]
    getattr(throttled_moto.client(service), operation)(**params)  # answered by moto, not refused


def test_in_process_calls_are_throttled_before_motos_mock_answers_them():
    from moto import mock_aws

    dice = Dice(0)
    with mock_aws():
        uninstall = install_in_process(Throttler(1.0, dice))
        try:
            error, verdicts = call_and_classify(functions_client("sqs"), "list_queues", {})
        finally:
            uninstall()
        assert error.response["Error"]["Code"] == "RequestThrottled"
        assert verdicts == [True, True]
        assert dice.counts["throttled sqs"] == 2
        functions_client("sqs").list_queues()  # uninstalled: moto answers again


def test_a_throttled_call_in_process_is_refused_not_performed_so_its_retry_is_not_a_duplicate():
    """AWS refuses a throttled request before doing it; moto's mock must not do it behind the refusal.
    Measured before this held: a conditional put throttled once came back on the SDK's retry as
    ConditionalCheckFailedException (Powertools' idempotency record "already in progress")."""
    from moto import mock_aws

    with mock_aws():
        moto_client = boto3.client("dynamodb", region_name="us-east-1")
        moto_client.create_table(
            TableName="records",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        uninstall = install_in_process(Throttler(1.0, Dice(0)))
        try:
            with pytest.raises(ClientError, match="ThrottlingException"):
                functions_client("dynamodb").put_item(TableName="records", Item={"id": {"S": "refused"}})
            # Half the calls refused: each put is new, so only a refusal that was performed anyway
            # could make its retry fail the condition.
            uninstall()
            uninstall = install_in_process(Throttler(0.5, Dice(1)))
            client = boto3.client(
                "dynamodb",
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                config=Config(retries={"mode": "standard", "total_max_attempts": 20}),
            )
            for n in range(40):
                client.put_item(
                    TableName="records",
                    Item={"id": {"S": f"put-{n}"}},
                    ConditionExpression="attribute_not_exists(id)",
                )
        finally:
            uninstall()
        assert moto_client.get_item(TableName="records", Key={"id": {"S": "refused"}}).get("Item") is None
        assert moto_client.scan(TableName="records")["Count"] == 40


def test_boto3s_default_session_holds_the_hook_once_however_often_it_is_installed():
    """In-process functions share boto3's default session; each stack under a fault plan installs
    the hook again. One copy draws once per attempt; none would throttle nothing."""
    from moto import mock_aws

    with mock_aws():
        boto3.setup_default_session(region_name="us-east-1")
        for _ in range(3):
            dice = Dice(0)
            uninstall = install_in_process(Throttler(1.0, dice))
            try:
                client = boto3.client(
                    "sqs", config=Config(retries={"mode": "standard", "total_max_attempts": 2})
                )
                with pytest.raises(ClientError, match="RequestThrottled"):
                    client.list_queues()
            finally:
                uninstall()
            assert dice.counts["throttled sqs"] == 2  # two attempts, one draw each


def test_a_call_let_through_in_process_is_not_drawn_again_by_the_server(throttled_moto):
    uninstall = install_in_process(Throttler(0.0, Dice(0)))
    try:
        functions_client("dynamodb", throttled_moto.endpoint_url).list_tables()  # the server would refuse
    finally:
        uninstall()


def test_a_share_of_calls_is_throttled_and_the_same_seed_throttles_the_same_calls():
    def refused(seed):
        throttler = Throttler(0.3, Dice(seed))
        headers = {"Authorization": "AWS4-HMAC-SHA256 Credential=k/20260101/us-east-1/dynamodb/aws4_request"}
        return [throttler.decide(headers) is not None for _ in range(300)]

    assert refused(11) == refused(11)
    assert 40 < sum(refused(11)) < 150
    assert refused(11) != refused(12)


def test_services_without_a_throttle_shape_are_let_through():
    throttler = Throttler(1.0, Dice(0))
    assert (
        throttler.decide({"Authorization": "AWS4-HMAC-SHA256 Credential=k/d/us-east-1/kinesis/aws4_request"})
        is None
    )
    assert throttler.decide({}) is None  # unsigned: no service to answer for


FUNCTION_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Queue:
    Type: AWS::SQS::Queue
  Caller:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: caller/
      Handler: app.handler
      Runtime: python3.11
      Timeout: 20
      Policies:  # its role allows both calls: the roles' check lets them by, the throttle answers
        - Statement:
            - Effect: Allow
              Action: [sqs:ListQueues, events:PutEvents]
              Resource: "*"
"""

CALLER = """\
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ONCE = Config(retries={"mode": "standard", "total_max_attempts": 1})


def code_of(call):
    try:
        call()
        return "answered"
    except ClientError as e:
        return e.response["Error"]["Code"]


def handler(event, context):
    sqs, events = boto3.client("sqs", config=ONCE), boto3.client("events", config=ONCE)
    return {
        "sqs": code_of(sqs.list_queues),
        "events": code_of(lambda: events.put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}"}])),
    }
"""


@pytest.mark.parametrize("runtime", ["in-process", "worker"])
def test_a_stack_throttles_its_functions_calls_and_none_of_its_own(tmp_path, runtime):
    from infra.localfaas.tests.sam_app import write_app
    from localfaas.faults import FaultPlan
    from localfaas.local_stack import LocalStack

    template = write_app(tmp_path, FUNCTION_TEMPLATE, {"caller/app.py": CALLER})
    with LocalStack(template, runtime=runtime, faults=FaultPlan(throttle=1.0, seed=3)) as stack:
        # Provisioning made the queue through localfaas's own clients, and they still answer.
        assert stack.client("sqs").list_queues()["QueueUrls"]
        result = stack.invoke("Caller", {})
        assert result.ok, result.error
        assert result.payload == {"sqs": "RequestThrottled", "events": "ThrottlingException"}
        report = stack.report()
    assert report.data["faults"]["injected"] == {"throttled events": 1, "throttled sqs": 1}
    assert report.data["faults"]["plan"] == "throttle=1,crash=0,timeout=0,kill-after=0,seed=3"


def test_a_virtual_time_run_skips_the_sdks_backoff_waits_and_gives_them_back():
    import time

    import botocore.endpoint

    from localfaas.throttling import skip_sdk_backoff

    undo = skip_sdk_backoff()
    try:
        assert botocore.endpoint.time is not time
        assert botocore.endpoint.time.monotonic is time.monotonic  # only sleep is replaced
        assert skip_sdk_backoff()() is None  # nested: the outer undo restores
        assert botocore.endpoint.time is not time
    finally:
        undo()
    assert botocore.endpoint.time is time
