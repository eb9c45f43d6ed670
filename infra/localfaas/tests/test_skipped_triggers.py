"""Triggers localfaas does not run (localfaas.skipped): each is named once at start with its AWS page,
and a run in which one had work (messages waiting in a queue only a skipped mapping reads, objects put
in a bucket whose notifications are not sent) names it and never says NOTHING LOST."""

from __future__ import annotations

import json
from contextlib import suppress

import pytest

from infra.localfaas.tests.sam_app import write_app
from localfaas import event_sources
from localfaas.cli import main
from localfaas.local_stack import LocalStack
from localfaas.outbound import tap_queue_name

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Requests:
    Type: AWS::SQS::Queue
    Properties: {QueueName: requests}
  Uploads:
    Type: AWS::S3::Bucket
    Properties: {BucketName: uploads}
  Take:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      CodeUri: src/
      Handler: app.handler
      Events:
        FromRequests:
          Type: SQS
          Properties: {Queue: !GetAtt Requests.Arn}
        Uploaded:
          Type: S3
          Properties:
            Bucket: !Ref Uploads
            Events: s3:ObjectCreated:*
            Filter: {S3Key: {Rules: [{Name: suffix, Value: .csv}]}}
"""

APP = "def handler(event, context):\n    return None\n"


@pytest.fixture
def no_kinds(monkeypatch):
    """No kind runs SQS mappings, whatever kinds the branch has: the mapping is a skipped trigger."""
    monkeypatch.setattr(event_sources, "_FACTORIES", {})
    monkeypatch.setattr(event_sources, "_import_kinds", lambda: None)


@pytest.fixture
def template(tmp_path):
    return write_app(tmp_path, TEMPLATE, {"src/app.py": APP})


def test_each_skipped_trigger_is_named_once_at_start_with_its_aws_page(template, no_kinds):
    with LocalStack(template) as stack:
        warnings = [w for w in stack.warnings if w.startswith(("TakeFromRequests", "Uploads"))]
    assert sorted(warnings) == [
        "TakeFromRequests: sqs event source mapping is not run by localfaas "
        "(https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html); skipped",
        "Uploads: S3 event notifications to Lambda are not run by localfaas "
        "(https://docs.aws.amazon.com/AmazonS3/latest/userguide/EventNotifications.html); skipped",
    ]


def test_a_skipped_trigger_without_work_leaves_the_verdict_alone(template, no_kinds):
    with LocalStack(template) as stack:
        stack.run_until_idle()
        report = stack.report()
    assert report.data["skipped"] == {"total": 0, "details": []}
    assert report.render().rstrip().endswith("NOTHING LOST") and report.ok


def test_messages_waiting_for_a_skipped_mapping_are_named_and_the_run_is_not_ok(template, no_kinds):
    with LocalStack(template) as stack:
        sqs = stack.client("sqs")
        url = sqs.get_queue_url(QueueName="requests")["QueueUrl"]
        for n in range(2):
            sqs.send_message(QueueUrl=url, MessageBody=f"request {n}")
        stack.run_until_idle()
        report = stack.report()
    assert report.data["skipped"]["details"] == [
        "TakeFromRequests: 2 message(s) wait in requests, which no running source reads"
    ]
    text = report.render()
    assert "NOTHING LOST" not in text
    assert "NOT RUN: 1 trigger(s) localfaas skips had work" in text
    assert not report.ok and report.lost == 0


def test_objects_put_in_a_bucket_whose_notifications_are_skipped_are_named(template, no_kinds):
    with LocalStack(template) as stack:
        s3 = stack.client("s3")
        s3.put_object(Bucket="uploads", Key="day.csv", Body=b"a,b")
        s3.put_object(Bucket="uploads", Key="notes.txt", Body=b"outside the suffix filter")
        stack.run_until_idle()
        report = stack.report()
    assert report.data["skipped"]["details"] == [
        "Uploads: 1 object(s) put in uploads since the start; their notifications were not sent"
    ]
    assert "NOTHING LOST" not in report.render()


def test_what_is_lost_and_what_was_skipped_are_both_in_the_verdict(template, no_kinds):
    with LocalStack(template) as stack:
        stack.client("s3").put_object(Bucket="uploads", Key="day.csv", Body=b"a,b")
        stack.run_until_idle()
        report = stack.report()
    report.data["lost"] = {"total": 1, "details": ["X: 1 record(s) discarded"]}
    lines = report.render().splitlines()
    assert lines[-4:] == [
        "LOST: 1",
        "  X: 1 record(s) discarded",
        "NOT RUN: 1 trigger(s) localfaas skips had work",
        "  Uploads: 1 object(s) put in uploads since the start; their notifications were not sent",
    ]


INLINE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Take:
    Type: AWS::Serverless::Function
    Properties: {Runtime: python3.11, CodeUri: src/, Handler: app.handler}
  Alerts:
    Type: AWS::SNS::Topic
    Properties:
      Subscription:
        - {Protocol: lambda, Endpoint: !GetAtt Take.Arn}
  Nightly:
    Type: AWS::Scheduler::Schedule
    Properties:
      ScheduleExpression: rate(1 day)
      FlexibleTimeWindow: {Mode: "OFF"}
      Target: {Arn: !GetAtt Take.Arn, RoleArn: arn:aws:iam::123456789012:role/scheduler}
"""


def test_triggers_named_without_their_work_measured(tmp_path, no_kinds):
    with LocalStack(write_app(tmp_path, INLINE, {"src/app.py": APP})) as stack:
        warnings = [w for w in stack.warnings if w.startswith(("Alerts", "Nightly"))]
        topic = f"arn:aws:sns:us-east-1:123456789012:{stack.physical_name('Alerts')}"
        subscriptions = stack.client("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [w.split(" (")[0] for w in warnings] == [
        "Alerts: an inline Subscription with protocol lambda is not run by localfaas",
        "Nightly: EventBridge Scheduler schedule is not run by localfaas",
    ]
    # Nor subscribed in the backend, which would fail every publish: only localfaas.outbound's tap is.
    assert [s["Endpoint"].rsplit(":", 1)[1] for s in subscriptions] == [tap_queue_name(topic)]


FANOUT = """\
  Fanout:
    Type: AWS::SNS::Topic
  RequestsFromFanout:
    Type: AWS::SNS::Subscription
    Properties: {TopicArn: !Ref Fanout, Protocol: sqs, Endpoint: !GetAtt Requests.Arn, RawMessageDelivery: true}
"""


def test_localfaas_run_exits_non_zero_when_a_skipped_trigger_had_work(tmp_path, no_kinds, capsys):
    # The scenario publishes to a topic whose queue subscriber only a skipped mapping reads.
    write_app(tmp_path, TEMPLATE + FANOUT, {"src/app.py": APP})
    scenario = {"template": "template.yaml", "publish": [{"Topic": "Fanout", "Message": "assemble o-1"}]}
    (tmp_path / "scenario.json").write_text(json.dumps(scenario))
    assert main(["run", "--scenario", str(tmp_path / "scenario.json")]) == 1
    out = capsys.readouterr().out
    assert "NOTHING LOST" not in out
    assert out.rstrip().endswith(
        "TakeFromRequests: 1 message(s) wait in requests, which no running source reads"
    )


def test_objects_in_a_bucket_count_only_for_notifications_of_objects_created(tmp_path, no_kinds):
    removed = TEMPLATE.replace("Events: s3:ObjectCreated:*", "Events: s3:ObjectRemoved:*")
    with LocalStack(write_app(tmp_path, removed, {"src/app.py": APP})) as stack:
        stack.client("s3").put_object(Bucket="uploads", Key="day.csv", Body=b"a,b")
        stack.run_until_idle()
        report = stack.report()
        assert any(w.startswith("Uploads: S3 event notifications to Lambda") for w in stack.warnings)
    assert report.data["skipped"]["total"] == 0


STREAMS = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Shipments:
    Type: AWS::Kinesis::Stream
    Properties: {Name: shipments, ShardCount: 1}
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: orders
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      StreamSpecification: {StreamViewType: NEW_IMAGE}
  Take:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      CodeUri: src/
      Handler: app.handler
      Events:
        FromShipments:
          Type: Kinesis
          Properties: {Stream: !GetAtt Shipments.Arn, StartingPosition: TRIM_HORIZON}
        FromOrders:
          Type: DynamoDB
          Properties: {Stream: !GetAtt Orders.StreamArn, StartingPosition: TRIM_HORIZON}
"""


def test_records_written_to_streams_only_skipped_mappings_read_are_named(tmp_path, no_kinds):
    with LocalStack(write_app(tmp_path, STREAMS, {"src/app.py": APP})) as stack:
        kinesis = stack.client("kinesis")
        with suppress(
            kinesis.exceptions.ResourceInUseException
        ):  # made by provision.py once it makes streams
            kinesis.create_stream(StreamName="shipments", ShardCount=1)
        for n in range(3):
            kinesis.put_record(StreamName="shipments", Data=b"{}", PartitionKey=str(n))
        stack.client("dynamodb").put_item(TableName="orders", Item={"id": {"S": "o-1"}})
        stack.run_until_idle()
        report = stack.report()
    assert sorted(report.data["skipped"]["details"]) == [
        "TakeFromOrders: 1 record(s) written to the stream of orders since the start, which it did not read",
        "TakeFromShipments: 3 record(s) written to shipments since the start, which it did not read",
    ]
    assert "NOTHING LOST" not in report.render()


TWO_CONSUMERS = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {Runtime: python3.11, CodeUri: src/, Handler: app.handler}
Resources:
  Requests:
    Type: AWS::SQS::Queue
    Properties: {QueueName: requests}
  Run:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        FromRequests: {Type: SQS, Properties: {Queue: !GetAtt Requests.Arn}}
  Skip:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        FromRequests: {Type: SQS, Properties: {Queue: !GetAtt Requests.Arn}}
"""


class Idle:
    """A running source that reads the queue (and, for this test, takes nothing from it)."""

    def __init__(self, logical_id):
        from localfaas.esm import PollReport

        self.logical_id, self.function_name, self.stats = logical_id, "Run", PollReport()

    def poll_once(self, *, flush=False):
        return self.stats

    def caught_up(self):
        return True

    def idle_rounds(self):
        return 1

    def summary(self, function, lost, *, stopped):
        return {"function": function, "lost": 0}

    def close(self):
        pass


def test_messages_in_a_queue_a_running_source_reads_are_not_a_skipped_triggers_work(tmp_path, monkeypatch):
    def run_only(resource, services):  # a kind that declines one of the two mappings of the queue
        return Idle(resource.logical_id) if resource.logical_id == "RunFromRequests" else None

    monkeypatch.setattr(event_sources, "_FACTORIES", {"AWS::Lambda::EventSourceMapping": [run_only]})
    monkeypatch.setattr(event_sources, "_import_kinds", lambda: None)
    with LocalStack(write_app(tmp_path, TWO_CONSUMERS, {"src/app.py": APP})) as stack:
        assert [w.split(":")[0] for w in stack.warnings if "event source mapping is not run" in w] == [
            "SkipFromRequests"
        ]
        sqs = stack.client("sqs")
        sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName="requests")["QueueUrl"], MessageBody="r")
        report = stack.report()
    assert report.data["skipped"]["total"] == 0  # the running RunFromRequests shares the queue's messages
