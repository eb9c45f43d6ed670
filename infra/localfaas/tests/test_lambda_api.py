"""Lambda's Invoke API over a local stack: boto3's own Lambda client, pointed at the stack's endpoint,
gets what the Invoke API reference says (RequestResponse, Event, DryRun, Tail, errors), and a function
reaches another function through AWS_ENDPOINT_URL_LAMBDA."""

from __future__ import annotations

import base64
import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from infra.localfaas.tests.sam_app import write_app
from localfaas.lambda_api import ENDPOINT_VARIABLE
from localfaas.local_stack import LocalStack

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.11
    CodeUri: src
Resources:
  Echo:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.echo
      Timeout: 1
  Fails:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.fails
      EventInvokeConfig:
        MaximumRetryAttempts: 2
        DestinationConfig:
          OnFailure:
            Type: SQS
            Destination: !GetAtt Failed.Arn
  Caller:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.call_echo
      Timeout: 30
      Policies: [LambdaInvokePolicy: {FunctionName: !Ref Echo}]
      Environment:
        Variables:
          TARGET: !Ref Echo
  Launcher:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.launch_echo
      Policies: [LambdaInvokePolicy: {FunctionName: !Ref Echo}]
      Environment:
        Variables:
          TARGET: !Ref Echo
  Big:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.big
  Failed:
    Type: AWS::SQS::Queue
"""

APP = """\
import json
import os

import boto3
from botocore.config import Config


def echo(event, context):
    print("echoing", json.dumps(event))
    return {"got": event, "function": context.function_name}


def fails(event, context):
    raise ValueError("no such order")


def big(event, context):
    return "x" * event["size"]


def launch_echo(event, context):
    client = boto3.client("lambda")
    response = client.invoke(FunctionName=os.environ["TARGET"], InvocationType="Event", Payload=json.dumps(event))
    return response["StatusCode"]


def call_echo(event, context):
    client = boto3.client("lambda", config=Config(retries={"max_attempts": 1}))
    response = client.invoke(FunctionName=os.environ["TARGET"], Payload=json.dumps(event))
    return {"status": response["StatusCode"], "answer": json.loads(response["Payload"].read())}
"""


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return write_app(tmp_path_factory.mktemp("lambda-api"), TEMPLATE, {"src/app.py": APP})


@pytest.fixture(scope="module")
def stack(app):
    # Worker processes: a function that invokes a function waits for the answer while the other runs.
    with LocalStack(app, runtime="worker") as stack:
        yield stack


@pytest.fixture(scope="module")
def client(stack):
    return boto3.client(
        "lambda",
        endpoint_url=stack.endpoints()["lambda"],
        region_name=stack.region,
        aws_access_key_id="localfaas",
        aws_secret_access_key="localfaas",
        config=Config(retries={"max_attempts": 1}),
    )


def payload(response) -> object:
    return json.loads(response["Payload"].read())


def test_request_response_returns_the_function_s_answer(stack, client):
    response = client.invoke(FunctionName="Echo", Payload=json.dumps({"orderId": "o-1"}))
    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in response
    assert payload(response) == {"got": {"orderId": "o-1"}, "function": stack.function("Echo").function_name}


@pytest.mark.parametrize(
    "name",
    [
        "{name}",
        "{name}:$LATEST",
        "123456789012:function:{name}",
        "arn:aws:lambda:us-east-1:123456789012:function:{name}",
        "arn:aws:lambda:us-east-1:123456789012:function:{name}:$LATEST",
    ],
)
def test_a_function_is_found_by_name_partial_arn_or_arn_with_its_latest_qualifier(stack, client, name):
    function_name = name.format(name=stack.function("Echo").function_name)
    assert payload(client.invoke(FunctionName=function_name, Payload=b"{}"))["got"] == {}


def test_a_function_error_is_a_200_with_the_error_object_and_function_error_unhandled(client):
    response = client.invoke(FunctionName="Fails", Payload=b"{}")
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    error = payload(response)
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "no such order"


def test_tail_returns_the_end_of_the_invocation_s_log(client):
    response = client.invoke(FunctionName="Echo", Payload=json.dumps({"n": 7}), LogType="Tail")
    logs = base64.b64decode(response["LogResult"]).decode()
    assert 'echoing {"n": 7}' in logs
    assert (
        logs.rstrip()
        .splitlines()[-1]
        .startswith("REPORT RequestId: " + response["ResponseMetadata"]["RequestId"])
    )


def test_without_tail_no_log_comes_back(client):
    assert "LogResult" not in client.invoke(FunctionName="Echo", Payload=b"{}")


def test_dry_run_is_204_and_runs_nothing(stack, client):
    before = stack.report().data["functions"].get("Echo", {}).get("invocations", 0)
    response = client.invoke(FunctionName="Echo", InvocationType="DryRun", Payload=b"{}")
    assert response["StatusCode"] == 204
    assert stack.report().data["functions"].get("Echo", {}).get("invocations", 0) == before


def test_event_is_202_and_goes_through_lambda_s_retries_to_the_on_failure_destination(stack, client):
    response = client.invoke(FunctionName="Fails", InvocationType="Event", Payload=json.dumps({"o": 1}))
    assert response["StatusCode"] == 202
    request_id = response["ResponseMetadata"]["RequestId"]
    assert stack.run_until_idle()
    sqs = stack.client("sqs")
    queue_url = sqs.get_queue_url(QueueName=stack.physical_name("Failed"))["QueueUrl"]
    record = json.loads(sqs.receive_message(QueueUrl=queue_url)["Messages"][0]["Body"])
    assert record["requestContext"]["requestId"] == request_id
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3  # the call and two retries
    assert record["requestPayload"] == {"o": 1}


def test_an_unknown_function_is_resource_not_found_with_lambda_s_message(client):
    with pytest.raises(ClientError) as raised:
        client.invoke(FunctionName="Nope", Payload=b"{}")
    error = raised.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert error["Error"]["Code"] == "ResourceNotFoundException"
    assert (
        error["Error"]["Message"] == "Function not found: arn:aws:lambda:us-east-1:123456789012:function:Nope"
    )


@pytest.mark.parametrize(
    "name",
    [
        "{name}:v1",
        "arn:aws:lambda:us-east-1:210987654321:function:{name}",
        "arn:aws:lambda:eu-west-1:123456789012:function:{name}",
    ],
)
def test_a_version_another_account_or_region_is_not_found(stack, client, name):
    with pytest.raises(ClientError) as raised:
        client.invoke(FunctionName=name.format(name=stack.function("Echo").function_name), Payload=b"{}")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_payload_that_is_not_json_is_invalid_request_content(client):
    with pytest.raises(ClientError) as raised:
        client.invoke(FunctionName="Echo", Payload=b"{not json")
    assert raised.value.response["Error"]["Code"] == "InvalidRequestContentException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_an_event_payload_over_1_mb_is_too_large_though_a_synchronous_one_is_not(client):
    big = json.dumps({"blob": "x" * (1024 * 1024)}).encode()
    with pytest.raises(ClientError) as raised:
        client.invoke(FunctionName="Echo", InvocationType="Event", Payload=big)
    assert raised.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert payload(client.invoke(FunctionName="Echo", Payload=big))["got"]["blob"] == "x" * (1024 * 1024)


def test_a_function_invokes_another_through_the_lambda_endpoint_variable(stack, client):
    assert stack.function_env()[ENDPOINT_VARIABLE] == stack.endpoints()["lambda"]
    answer = payload(client.invoke(FunctionName="Caller", Payload=json.dumps({"orderId": "o-2"})))
    assert answer == {
        "status": 200,
        "answer": {"got": {"orderId": "o-2"}, "function": stack.function("Echo").function_name},
    }


def test_a_function_invokes_another_asynchronously_and_the_callee_runs_when_the_stack_runs(stack, client):
    def echo_invocations():
        return stack.report().data["functions"].get("Echo", {}).get("invocations", 0)

    before = echo_invocations()
    assert payload(client.invoke(FunctionName="Launcher", Payload=b"{}")) == 202
    assert stack.run_until_idle()
    assert echo_invocations() == before + 1


def test_in_process_a_synchronous_call_of_a_function_from_another_is_refused_not_left_waiting(app):
    # The in-process runtime runs one invocation at a time: the callee cannot start while its caller
    # waits, so after the callee's Timeout (1 s) the caller gets Lambda's throttling error.
    with LocalStack(app, runtime="in-process") as stack:
        error = stack.invoke("Caller", {"orderId": "o-3"}).error
    assert error["errorType"] == "TooManyRequestsException"
    assert "run with --runtime worker" in error["errorMessage"]


def test_an_answer_over_6_mb_is_the_function_error_lambda_reports_and_one_under_comes_back(client):
    response = client.invoke(FunctionName="Big", Payload=json.dumps({"size": 6_300_000}))
    assert response["FunctionError"] == "Unhandled"
    assert payload(response)["errorType"] == "Function.ResponseSizeTooLarge"
    assert (
        len(payload(client.invoke(FunctionName="Big", Payload=json.dumps({"size": 6_000_000})))) == 6_000_000
    )
