"""The functions' AWS calls counted once per request, by function and operation, on both runtimes
and whichever way a call reaches the backend; a PutEvents once, though two of localfaas's hooks see
it; localfaas's own calls and refused ones not at all; the report's per-record figures."""

from __future__ import annotations

import json

import pytest

from infra.localfaas.tests.sam_app import write_app
from localfaas.local_stack import LocalStack

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.11
    CodeUri: src/
    Environment: {Variables: {ORDERS: !Ref Orders, TICKETS: !Ref Tickets}}
Resources:
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
  Tickets:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
  Writer:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.write
      Policies:
        - DynamoDBCrudPolicy: {TableName: !Ref Orders}
        - EventBridgePutEventsPolicy: {EventBusName: default}
        - Statement: [{Effect: Allow, Action: events:DescribeEventBus, Resource: "*"}]
  Reader:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.read
      Policies:
        - DynamoDBReadPolicy: {TableName: !Ref Orders}
  Caller:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.call
      Environment: {Variables: {READER: !Ref Reader}}
      Policies:
        - LambdaInvokePolicy: {FunctionName: !Ref Reader}
  Recorder:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.record
      Policies:
        - DynamoDBCrudPolicy: {TableName: !Ref Orders}
      Events:
        Orders:
          Type: MSK
          Properties:
            Stream: arn:aws:kafka:us-east-1:123456789012:cluster/demo/abc-1
            Topics: [orders]
            StartingPosition: TRIM_HORIZON
            BatchSize: 10
"""

# Writer: 2 PutItem, 1 GetItem, 1 BatchWriteItem of 5 items, 1 PutEvents of 3 entries, 1
# DescribeEventBus (forwarded by the events endpoint to moto), and 1 PutItem its role refuses.
HANDLER = """\
import base64
import os

import boto3
from botocore.exceptions import ClientError

dynamodb = boto3.client("dynamodb")
events = boto3.client("events")


def write(event, context):
    orders = os.environ["ORDERS"]
    for n in ("1", "2"):
        dynamodb.put_item(TableName=orders, Item={"id": {"S": n}})
    dynamodb.get_item(TableName=orders, Key={"id": {"S": "1"}})
    dynamodb.batch_write_item(
        RequestItems={orders: [{"PutRequest": {"Item": {"id": {"S": f"b{i}"}}}} for i in range(5)]}
    )
    events.put_events(
        Entries=[{"Source": "shop", "DetailType": "Written", "Detail": "{}"} for _ in range(3)]
    )
    events.describe_event_bus(Name="default")
    try:
        dynamodb.put_item(TableName=os.environ["TICKETS"], Item={"id": {"S": "1"}})
    except ClientError as e:
        return e.response["Error"]["Code"]
    return "not refused"


def read(event, context):
    dynamodb.get_item(TableName=os.environ["ORDERS"], Key={"id": {"S": "1"}})
    return "ok"


def call(event, context):
    boto3.client("lambda").invoke(FunctionName=os.environ["READER"], InvocationType="Event", Payload=b"{}")
    return "ok"


def record(event, context):
    for records in event["records"].values():
        for r in records:
            key = base64.b64decode(r["key"]).decode()
            dynamodb.put_item(TableName=os.environ["ORDERS"], Item={"id": {"S": key}})
"""

WRITER_CALLS = {
    "dynamodb:BatchWriteItem": 1,
    "dynamodb:GetItem": 1,
    "dynamodb:PutItem": 2,
    "events:DescribeEventBus": 1,
    "events:PutEvents": 1,
}


@pytest.fixture
def app(tmp_path):
    return write_app(tmp_path, TEMPLATE, {"src/app.py": HANDLER})


def write_and_read(stack):
    written = stack.invoke("Writer", {})
    assert written.ok, written.error
    assert written.payload == "AccessDeniedException"  # refused by its role: not served, not counted
    for _ in range(2):
        assert stack.invoke("Reader", {}).ok


@pytest.mark.parametrize(
    "runtime, direct_moto",
    [("in-process", True), ("in-process", False), ("worker", True)],
    ids=["in-process, moto mocked here", "in-process, moto's server", "worker processes"],
)
def test_each_request_is_counted_once_by_function_and_operation(app, runtime, direct_moto):
    """In process, a call is seen at botocore's before-send and again where it is served (the events
    endpoint for PutEvents, and moto's server then for what it forwards; moto's server for the rest
    without the mock); from a worker, only where it is served."""
    with LocalStack(app, runtime=runtime, direct_moto=direct_moto) as stack:
        write_and_read(stack)
        assert stack.meter.counts() == {"Reader": {"dynamodb:GetItem": 2}, "Writer": WRITER_CALLS}


@pytest.mark.parametrize("runtime", ["in-process", "worker"])
def test_an_invoke_is_counted_once_where_the_invoke_api_serves_it(app, runtime):
    with LocalStack(app, runtime=runtime) as stack:
        assert stack.invoke("Caller", {}).payload == "ok"
        stack.run_until_idle()  # the Event invocation of Reader
        assert stack.meter.counts() == {
            "Caller": {"lambda:InvokeFunction": 1},
            "Reader": {"dynamodb:GetItem": 1},
        }


def test_localfaas_own_calls_are_not_counted(app):
    with LocalStack(app) as stack:
        client = stack.client("dynamodb")
        client.put_item(TableName=stack.physical_name("Orders"), Item={"id": {"S": "x"}})
        stack.put_events([{"Source": "shop", "DetailType": "Hello", "Detail": "{}"}])
        assert stack.meter.counts() == {}


def test_calls_are_counted_without_role_enforcement_too(app):
    with LocalStack(app, enforce_roles=False) as stack:
        assert stack.enforcer is None
        assert stack.invoke("Writer", {}).payload == "not refused"
        assert stack.meter.counts() == {
            "Writer": {**WRITER_CALLS, "dynamodb:PutItem": 3}  # the Tickets write is served now
        }


def test_the_report_gives_calls_per_record_given_and_per_business_record(app):
    with LocalStack(app) as stack:
        for n in range(25):  # batches of 10: 3 invocations, 25 records, one PutItem each
            stack.produce("orders", {"n": n}, key=f"o-{n}")
        stack.run_until_idle()
        write_and_read(stack)
        report = stack.report()
    calls = report.data["aws_calls"]
    assert calls["Recorder"] == {
        "calls": 25,
        "records": 25,
        "per_record": 1.0,
        "operations": {"dynamodb:PutItem": 25},
    }
    # Invoked directly: one record per invocation (6 calls in 1, 2 in 2).
    assert (calls["Writer"]["records"], calls["Writer"]["per_record"]) == (1, 6.0)
    assert (calls["Reader"]["records"], calls["Reader"]["per_record"]) == (2, 1.0)
    assert (calls["total"], calls["business_records"], calls["per_business_record"]) == (33, 25, 1.32)
    assert report.metric("aws_calls.calls[Writer]") == 6
    assert report.metric("aws_calls.calls") == 33
    assert report.metric("aws_calls.per_business_record") == 1.32
    assert json.loads(report.to_json())["aws_calls"] == calls
    text = report.render()
    assert "  Recorder     25       25        1.00  dynamodb:PutItem 25" in text
    assert "  total 33 for 25 business records: 1.32 a record" in text


def test_a_backend_whose_functions_share_one_key_is_not_counted():
    from localfaas.report import Report, aws_calls_summary

    report = Report({"aws_calls": aws_calls_summary(None, {}, 12)})
    assert "AWS calls: not counted on this backend" in report.render()
    with pytest.raises(LookupError, match="not available on this backend"):
        report.metric("aws_calls.total")


def test_a_stack_started_again_on_its_state_folder_goes_on_from_the_calls_counted(app, tmp_path):
    state = tmp_path / "state"
    with LocalStack(app, state_dir=state) as first:
        for n in range(25):
            first.produce("orders", {"n": n}, key=f"o-{n}")
        first.run_until_idle()
    with LocalStack(app, state_dir=state) as again:
        for n in range(25, 30):
            again.produce("orders", {"n": n}, key=f"o-{n}")
        again.run_until_idle()
        calls = again.report().data["aws_calls"]
    assert (calls["Recorder"]["calls"], calls["Recorder"]["records"]) == (30, 30)


def test_with_another_process_moto_server_workers_calls_are_said_to_be_counted_in_part(app):
    from localfaas.backend import MotoBackend, RemoteMotoBackend

    # Stands for the other process's server (the stack only has its URL); being in this process, it
    # still sees the workers' calls, so only the warning is checked here.
    server = MotoBackend().start()
    try:
        with LocalStack(app, backend=RemoteMotoBackend(server.endpoint_url), runtime="worker") as stack:
            assert [w for w in stack.warnings if w.startswith("AWS calls are counted")] == [
                "AWS calls are counted only where this process sees them (PutEvents, Invoke): the worker "
                "processes' other calls go to a moto server of another process"
            ]
    finally:
        server.stop()


@pytest.mark.parametrize("runtime", ["in-process", "worker"])
def test_a_throttled_request_is_not_counted_and_its_retry_is(app, runtime):
    """Refused in the service's place, a throttled request is not served; the SDK's retry is one more
    request, served: the function's counts are those of a run without throttling."""
    from localfaas.faults import FaultPlan

    with LocalStack(app, runtime=runtime, faults=FaultPlan(throttle=0.3, seed=3)) as stack:
        write_and_read(stack)
        injected = stack.fault_dice.counts
        assert sum(injected.values()) > 0, "the plan throttled nothing: pick another seed"
        assert stack.meter.counts() == {"Reader": {"dynamodb:GetItem": 2}, "Writer": WRITER_CALLS}
