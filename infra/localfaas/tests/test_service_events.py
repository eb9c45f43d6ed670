"""Events from AWS services (localfaas.service_events): a scenario's event marked "asService" and
`localfaas put-events --as-service` put an aws.* event as the service sends it, so rules on aws.ec2 and
aws.s3 run; a function's PutEvents of the same entry is refused as AWS refuses it
(NotAuthorizedForSourceException, "PutEvents", EventBridge API Reference)."""

from __future__ import annotations

import json

import boto3
import pytest

from infra.localfaas.tests.sam_app import write_app
from localfaas.cli import main
from localfaas.local_stack import LocalStack
from localfaas.service_events import service_resources

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Seen:
    Type: AWS::SQS::Queue
    Properties: {QueueName: seen}
  Watch:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      CodeUri: src/
      Handler: app.handler
      Environment:
        Variables: {SEEN_URL: !Ref Seen}
      Policies: [SQSSendMessagePolicy: {QueueName: !GetAtt Seen.QueueName}]
      Events:
        Stopped:
          Type: EventBridgeRule
          Properties:
            Pattern:
              source: [aws.ec2]
              detail-type: [EC2 Instance State-change Notification]
              detail: {state: [stopped]}
        Uploaded:
          Type: EventBridgeRule
          Properties:
            Pattern:
              source: [aws.s3]
              detail-type: [Object Created]
              resources: [{prefix: "arn:aws:s3:::uploads"}]
"""

APP = """\
import json, os
import boto3

sqs = boto3.client("sqs")


def handler(event, context):
    sqs.send_message(QueueUrl=os.environ["SEEN_URL"], MessageBody=json.dumps(event))
"""

STOPPED = {
    "Source": "aws.ec2",
    "DetailType": "EC2 Instance State-change Notification",
    "Detail": json.dumps({"instance-id": "i-0123456789abcdef0", "state": "stopped"}),
}
UPLOADED = {
    "Source": "aws.s3",
    "DetailType": "Object Created",
    "Detail": json.dumps({"bucket": {"name": "uploads"}, "object": {"key": "a.csv", "size": 3}}),
}


def seen(stack: LocalStack) -> list[dict]:
    sqs = stack.client("sqs")
    url = sqs.get_queue_url(QueueName="seen")["QueueUrl"]
    found = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in found]


@pytest.fixture
def template(tmp_path):
    return write_app(tmp_path, TEMPLATE, {"src/app.py": APP})


def events_client(endpoint_url: str):
    return boto3.client(
        "events",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def test_put_events_at_the_functions_endpoint_refuses_an_aws_source(template):
    with LocalStack(template) as stack:
        answer = events_client(stack.events_api.endpoint_url).put_events(Entries=[STOPPED])
        stack.run_until_idle()
        assert seen(stack) == []
    assert answer["FailedEntryCount"] == 1
    assert answer["Entries"] == [
        {"ErrorCode": "NotAuthorizedForSourceException", "ErrorMessage": "Not authorized for the source."}
    ]


def test_put_events_as_the_service_runs_the_rule_with_the_envelope_the_service_fills(template, capsys):
    with LocalStack(template) as stack:
        endpoint = stack.events_api.endpoint_url
        status = main(
            ["put-events", "--as-service", "--endpoint-url", endpoint, "--entries", json.dumps([STOPPED])]
        )
        answer = json.loads(capsys.readouterr().out)
        stack.run_until_idle()
        (event,) = seen(stack)
    assert status == 0 and answer["FailedEntryCount"] == 0
    assert (event["source"], event["account"], event["region"]) == ("aws.ec2", "123456789012", "us-east-1")
    assert event["resources"] == ["arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0"]
    assert event["detail"] == {"instance-id": "i-0123456789abcdef0", "state": "stopped"}


def test_put_events_without_the_flag_is_refused_from_the_cli_too(template, capsys):
    with LocalStack(template) as stack:
        endpoint = stack.events_api.endpoint_url
        assert main(["put-events", "--endpoint-url", endpoint, "--entries", json.dumps([STOPPED])]) == 0
        answer = json.loads(capsys.readouterr().out)
    assert answer["Entries"][0]["ErrorCode"] == "NotAuthorizedForSourceException"


def test_a_scenario_event_as_the_service_runs_a_rule_on_aws_s3_through_localfaas_run(template, tmp_path):
    scenario = {
        "template": "template.yaml",
        "events": [
            {**UPLOADED, "asService": True},
            {**UPLOADED, "asService": False},  # as a function would put it: refused
            {**STOPPED, "Detail": json.dumps({"instance-id": "i-1", "state": "running"}), "asService": True},
        ],
        "checks": [
            {"name": "uploads watched", "metric": "functions.invocations[Watch]", "equals": 1},
            {"name": "the refused one", "metric": "bus.events_failed", "equals": 1},
        ],
    }
    (tmp_path / "scenario.json").write_text(json.dumps(scenario))
    report_path = tmp_path / "report.json"
    assert main(["run", "--scenario", str(tmp_path / "scenario.json"), "--json", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert all(check["ok"] for check in report["checks"]), report["checks"]


def test_a_scenario_refuses_an_as_service_flag_that_is_not_a_boolean(template, tmp_path, capsys):
    scenario = {"template": "template.yaml", "events": [{**UPLOADED, "asService": "yes"}]}
    (tmp_path / "scenario.json").write_text(json.dumps(scenario))
    assert main(["run", "--scenario", str(tmp_path / "scenario.json")]) == 2
    assert "events[0].asService: must be true or false" in capsys.readouterr().err


def test_resources_the_entry_gives_are_kept_and_other_services_fill_none():
    event = {"source": "aws.s3", "resources": ["arn:aws:s3:::given"], "detail": {"bucket": {"name": "x"}}}
    assert service_resources(event, "1", "r") == ["arn:aws:s3:::given"]
    assert service_resources({"source": "aws.s3", "detail": {"bucket": {"name": "b"}}}, "1", "r") == [
        "arn:aws:s3:::b"
    ]
    assert service_resources({"source": "aws.codebuild", "detail": {"build-id": "x"}}, "1", "r") == []
