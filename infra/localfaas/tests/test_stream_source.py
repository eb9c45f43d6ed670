"""Kinesis and DynamoDB Streams mappings (localfaas.stream_source) against what AWS documents: the
events Lambda sends, order per shard, the checkpoint rule of partial batch responses, retries,
bisection, filters, the on-failure invocation record and tumbling windows ("Using AWS Lambda with
Amazon Kinesis", https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html; "Using AWS Lambda
with Amazon DynamoDB", https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html). Each test is a
small SAM app run by LocalStack in virtual time on moto; records are put through the AWS APIs."""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from infra.localfaas.tests.sam_app import write_app
from localfaas.cli import main
from localfaas.durable import DurableStore
from localfaas.esm import InvalidEventSourceMappingError
from localfaas.graph.topology import build_graph
from localfaas.local_stack import LocalStack
from localfaas.runtime import InvocationResult
from localfaas.stream_shards import KinesisStream, ShardRecord
from localfaas.stream_source import StreamEventSourceMapping, StreamMappingConfig
from localfaas.template import load_stack

HEADER = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Shipments:
    Type: AWS::Kinesis::Stream
    Properties: {ShardCount: 1}
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      BillingMode: PAY_PER_REQUEST
      StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
  GivenUp:
    Type: AWS::SQS::Queue
    Properties: {QueueName: given-up}
  Take:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      CodeUri: src/
      Handler: app.handler
      Events:
"""

KINESIS = """\
        FromShipments:
          Type: Kinesis
          Properties:
            Stream: !GetAtt Shipments.Arn
            StartingPosition: TRIM_HORIZON
"""

DYNAMODB = """\
        FromOrders:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Orders.StreamArn
            StartingPosition: TRIM_HORIZON
"""

TO_GIVEN_UP = """\
            DestinationConfig:
              OnFailure:
                Destination: !GetAtt GivenUp.Arn
"""

# Records what it was invoked with; a Kinesis record whose data says "poison" (or an item with a
# "poison" attribute) fails the invocation,
# one that says "report" is named in batchItemFailures; with a window, it counts records in `state`.
APP = """\
import base64, json, os

TRACE = os.path.join(os.path.dirname(__file__), "trace.jsonl")


def handler(event, context):
    with open(TRACE, "a") as trace:
        trace.write(json.dumps(event) + "\\n")
    failures = []
    for record in event.get("Records", []):
        if "kinesis" in record:
            data = json.loads(base64.b64decode(record["kinesis"]["data"]))
            if data.get("poison"):
                raise ValueError("a poison record")
            if data.get("report"):
                failures.append({"itemIdentifier": record["kinesis"]["sequenceNumber"]})
        elif "poison" in record["dynamodb"].get("NewImage", {}):
            raise ValueError("a poison item")
    response = {"batchItemFailures": failures}
    if "window" in event:
        response["state"] = {"count": event["state"].get("count", 0) + len(event["Records"])}
    return response
"""


def stack_for(tmp_path, events: str, **options) -> LocalStack:
    template = write_app(tmp_path, HEADER + events, {"src/app.py": APP})
    return LocalStack(template, **options)


def invocations(tmp_path) -> list[dict]:
    trace = tmp_path / "src" / "trace.jsonl"
    return [json.loads(line) for line in trace.read_text().splitlines()] if trace.exists() else []


def put(stack: LocalStack, *items: dict, key: str = "order-1") -> list[str]:
    kinesis = stack.client("kinesis")
    name = stack.template.physical_names["Shipments"]
    return [
        kinesis.put_record(StreamName=name, Data=json.dumps(i).encode(), PartitionKey=key)["SequenceNumber"]
        for i in items
    ]


def datas(event: dict) -> list[dict]:
    return [json.loads(base64.b64decode(r["kinesis"]["data"])) for r in event["Records"]]


def given_up(stack: LocalStack) -> list[dict]:
    sqs = stack.client("sqs")
    url = sqs.get_queue_url(QueueName="given-up")["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_kinesis_records_arrive_in_order_in_the_event_lambda_sends(tmp_path):
    with stack_for(
        tmp_path, KINESIS.replace("TRIM_HORIZON", "TRIM_HORIZON\n            BatchSize: 2")
    ) as stack:
        sequences = put(stack, {"n": 1}, {"n": 2}, {"n": 3})
        assert stack.run_until_idle()
        row = stack.report().data["esm"]["TakeFromShipments"]
        arn = stack.client("kinesis").describe_stream_summary(StreamName="localfaas-Shipments")[
            "StreamDescriptionSummary"
        ]["StreamARN"]
    first, second = invocations(tmp_path)
    assert [datas(first), datas(second)] == [[{"n": 1}, {"n": 2}], [{"n": 3}]]
    record = first["Records"][0]
    kinesis = record["kinesis"]
    assert (kinesis["kinesisSchemaVersion"], kinesis["partitionKey"], kinesis["sequenceNumber"]) == (
        "1.0",
        "order-1",
        sequences[0],
    )
    assert isinstance(kinesis["approximateArrivalTimestamp"], float)
    assert (record["eventSource"], record["eventName"], record["eventVersion"]) == (
        "aws:kinesis",
        "aws:kinesis:record",
        "1.0",
    )
    assert record["eventID"] == f"shardId-000000000000:{sequences[0]}"
    assert (record["awsRegion"], record["invokeIdentityArn"]) == (
        "us-east-1",
        "arn:aws:iam::123456789012:role/localfaas-TakeRole",  # the function's execution role
    )
    assert record["eventSourceARN"] == arn
    assert (row["records"], row["delivered"], row["invocations"], row["lost"]) == (3, 3, 2, 0)


def test_dynamodb_stream_records_name_the_change_and_carry_both_images(tmp_path):
    with stack_for(tmp_path, DYNAMODB) as stack:
        table = stack.client("dynamodb")
        name = stack.template.physical_names["Orders"]
        table.put_item(TableName=name, Item={"id": {"S": "o-1"}, "state": {"S": "placed"}})
        table.put_item(TableName=name, Item={"id": {"S": "o-1"}, "state": {"S": "paid"}})
        table.delete_item(TableName=name, Key={"id": {"S": "o-1"}})
        assert stack.run_until_idle()
        latest = table.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    [event] = invocations(tmp_path)
    inserted, modified, removed = event["Records"]
    assert [r["eventName"] for r in event["Records"]] == ["INSERT", "MODIFY", "REMOVE"]
    assert {r["eventSource"] for r in event["Records"]} == {"aws:dynamodb"}
    assert {r["eventSourceARN"] for r in event["Records"]} == {latest}
    assert inserted["dynamodb"]["Keys"] == {"id": {"S": "o-1"}}
    assert inserted["dynamodb"]["NewImage"]["state"] == {"S": "placed"}
    assert "OldImage" not in inserted["dynamodb"]
    assert (modified["dynamodb"]["OldImage"]["state"], modified["dynamodb"]["NewImage"]["state"]) == (
        {"S": "placed"},
        {"S": "paid"},
    )
    assert removed["dynamodb"]["OldImage"]["state"] == {"S": "paid"} and "NewImage" not in removed["dynamodb"]
    sequences = [int(r["dynamodb"]["SequenceNumber"]) for r in event["Records"]]
    assert sequences == sorted(sequences)
    assert inserted["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert inserted["dynamodb"]["SizeBytes"] > 0
    assert isinstance(inserted["dynamodb"]["ApproximateCreationDateTime"], float)


def test_a_partial_batch_response_retries_every_record_from_the_lowest_reported_one(tmp_path):
    events = KINESIS + "            FunctionResponseTypes: [ReportBatchItemFailures]\n"
    events += "            MaximumRetryAttempts: 1\n"
    with stack_for(tmp_path, events) as stack:
        put(stack, {"n": 1}, {"n": 2, "report": True}, {"n": 3}, {"n": 4, "report": True})
        assert stack.run_until_idle()
        row = stack.report().data["esm"]["TakeFromShipments"]
    first, retry = invocations(tmp_path)
    assert [d["n"] for d in datas(first)] == [1, 2, 3, 4]
    # "Lambda uses the record with the lowest sequence number as the checkpoint. Lambda then retries
    # all records starting from that checkpoint": record 3 succeeded, yet is retried with 2 and 4.
    assert [d["n"] for d in datas(retry)] == [2, 3, 4]
    # The retry reports 2 and 4 again: the retries are spent, and all three are given up on.
    assert (row["delivered"], row["retried"], row["discarded"], row["invocations"]) == (1, 1, 3, 2)


def test_retries_exhausted_send_the_kinesis_invocation_record_to_the_destination(tmp_path):
    events = KINESIS + "            MaximumRetryAttempts: 2\n" + TO_GIVEN_UP
    with stack_for(tmp_path, events) as stack:
        sequences = put(stack, {"n": 1, "poison": True}, {"n": 2})
        assert stack.run_until_idle()
        report = stack.report().data
        [document] = given_up(stack)
        row = report["esm"]["TakeFromShipments"]
    assert len(invocations(tmp_path)) == 3  # the first invocation and two retries
    assert document["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert document["requestContext"]["approximateInvokeCount"] == 3
    assert document["responseContext"]["functionError"] == "Unhandled"
    info = document["KinesisBatchInfo"]
    assert (info["shardId"], info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (
        "shardId-000000000000",
        sequences[0],
        sequences[1],
        2,
    )
    assert info["streamArn"].endswith(":stream/localfaas-Shipments")
    assert info["approximateArrivalOfFirstRecord"].endswith("Z")
    assert (row["to_destination"], row["lost"]) == (2, 0)
    [parked] = [p for p in report["parked"]["destinations"].values() if p["name"] == "GivenUp"]
    assert (parked["count"], parked["source"], parked["reason"]) == (
        1,
        "TakeFromShipments",
        "RetryAttemptsExhausted (1)",
    )


def test_bisection_isolates_the_poison_record_for_the_destination(tmp_path):
    events = KINESIS + "            MaximumRetryAttempts: 0\n            BisectBatchOnFunctionError: true\n"
    with stack_for(tmp_path, events + TO_GIVEN_UP) as stack:
        sequences = put(stack, {"n": 1}, {"n": 2}, {"n": 3, "poison": True}, {"n": 4})
        assert stack.run_until_idle()
        [document] = given_up(stack)
        row = stack.report().data["esm"]["TakeFromShipments"]
    info = document["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (
        sequences[2],
        sequences[2],
        1,
    )
    delivered = [d["n"] for e in invocations(tmp_path) for d in datas(e) if len(e["Records"]) == 1]
    assert 4 in delivered and 3 in delivered
    assert (row["delivered"], row["to_destination"], row["bisected"]) == (3, 1, 2)


def test_a_failed_batch_without_a_destination_is_discarded_and_counted_lost(tmp_path):
    with stack_for(tmp_path, KINESIS + "            MaximumRetryAttempts: 0\n") as stack:
        put(stack, {"poison": True})
        assert stack.run_until_idle()
        report = stack.report()
    assert report.data["esm"]["TakeFromShipments"]["discarded"] == 1
    assert "LOST: 1" in report.render()


def test_filters_match_kinesis_data_and_dynamodb_event_names(tmp_path):
    on_data = """            FilterCriteria:
              Filters:
                - Pattern: '{"data": {"kind": ["shipped"]}}'
"""
    on_name = """            FilterCriteria:
              Filters:
                - Pattern: '{"eventName": ["REMOVE"]}'
"""
    with stack_for(tmp_path, KINESIS + on_data + DYNAMODB + on_name) as stack:
        put(stack, {"kind": "shipped", "n": 1}, {"kind": "packed", "n": 2})
        kinesis = stack.client("kinesis")
        kinesis.put_record(StreamName="localfaas-Shipments", Data=b"not json", PartitionKey="x")
        table = stack.client("dynamodb")
        table.put_item(TableName="localfaas-Orders", Item={"id": {"S": "o-1"}})
        table.delete_item(TableName="localfaas-Orders", Key={"id": {"S": "o-1"}})
        assert stack.run_until_idle()
        esm = stack.report().data["esm"]
    seen = invocations(tmp_path)
    assert [datas(e) for e in seen if "kinesis" in e["Records"][0]] == [[{"kind": "shipped", "n": 1}]]
    assert [[r["eventName"] for r in e["Records"]] for e in seen if "dynamodb" in e["Records"][0]] == [
        ["REMOVE"]
    ]
    assert (esm["TakeFromShipments"]["filtered"], esm["TakeFromShipments"]["delivered"]) == (2, 1)
    assert (esm["TakeFromOrders"]["filtered"], esm["TakeFromOrders"]["delivered"]) == (1, 1)


def test_a_tumbling_window_carries_state_and_ends_with_a_final_invocation(tmp_path):
    events = KINESIS + "            BatchSize: 2\n            TumblingWindowInSeconds: 900\n"
    with stack_for(tmp_path, events) as stack:
        put(stack, {"n": 1}, {"n": 2}, {"n": 3})
        assert stack.run_until_idle()
    seen = invocations(tmp_path)
    *batches, final = seen
    assert [len(e["Records"]) for e in batches] == [2, 1]
    assert [e["state"] for e in seen] == [{}, {"count": 2}, {"count": 3}]
    assert [e["isFinalInvokeForWindow"] for e in seen] == [False, False, True]
    assert len({json.dumps(e["window"]) for e in seen}) == 1
    assert final["Records"] == [] and final["state"] == {"count": 3}
    assert final["shardId"] == "shardId-000000000000"
    assert final["window"]["end"] > final["window"]["start"]
    assert final["isWindowTerminatedEarly"] is False


def test_latest_starts_at_the_tip_of_the_stream(tmp_path):
    events = KINESIS.replace("TRIM_HORIZON", "LATEST")
    template = write_app(tmp_path, HEADER + events, {"src/app.py": APP})
    with LocalStack(template) as stack:
        put(stack, {"n": 1})  # put after the mapping started: delivered
        assert stack.run_until_idle()
    assert [datas(e) for e in invocations(tmp_path)] == [[{"n": 1}]]


def test_a_dynamodb_mapping_cannot_start_at_a_timestamp(tmp_path):
    events = DYNAMODB.replace(
        "TRIM_HORIZON", "AT_TIMESTAMP\n            StartingPositionTimestamp: 1700000000"
    )
    with pytest.raises(InvalidEventSourceMappingError) as raised, stack_for(tmp_path, events):
        pass
    assert "TakeFromOrders" in str(raised.value) and "StartingPosition" in str(raised.value)


def test_a_table_without_a_stream_is_named_and_skipped(tmp_path):
    template = (
        (HEADER + DYNAMODB)
        .replace("      StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}\n", "")
        .replace(
            "!GetAtt Orders.StreamArn",
            "arn:aws:dynamodb:us-east-1:123456789012:table/localfaas-Orders/stream/x",
        )
    )
    path = write_app(tmp_path, template, {"src/app.py": APP})
    with LocalStack(path) as stack:
        warnings = [w for w in stack.warnings if w.startswith("TakeFromOrders")]
    assert len(warnings) == 1 and "has no stream" in warnings[0] and warnings[0].endswith("skipped")


# -- the checkpoint, durable across a restart of localfaas ---------------------------------------


class Function:
    """A function by its invocations; `crash` makes the next invocation take the poller down."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.crash = False

    def __call__(self, name: str, event: dict) -> InvocationResult:
        if self.crash:
            raise KeyboardInterrupt("localfaas killed mid-invocation")
        self.events.append(event)
        return InvocationResult(name, f"request-{len(self.events)}", payload=None)

    def seen(self) -> list[dict]:
        return [d for e in self.events for d in datas(e)]


def _mapping(kinesis, store_dir, function, *, clock=None, **props) -> StreamEventSourceMapping:
    arn = kinesis.describe_stream_summary(StreamName="shipments")["StreamDescriptionSummary"]["StreamARN"]
    config = StreamMappingConfig.from_resource(
        "TakeFromShipments",
        {"EventSourceArn": arn, "StartingPosition": "TRIM_HORIZON", **props},
        function_name="take",
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:take",
    )
    options = {"clock": clock} if clock else {}
    return StreamEventSourceMapping(
        config, KinesisStream(kinesis, arn), function, None, DurableStore(store_dir), **options
    )


def _drain(mapping: StreamEventSourceMapping) -> None:
    for _ in range(20):
        mapping.poll_once(flush=True)
        if mapping.caught_up():
            return
    raise AssertionError("the mapping did not catch up")


@pytest.fixture
def kinesis():
    with mock_aws():
        client = boto3.client("kinesis", region_name="us-east-1")
        client.create_stream(StreamName="shipments", ShardCount=1)
        yield client


def _put(kinesis, *items: dict) -> None:
    for item in items:
        kinesis.put_record(StreamName="shipments", Data=json.dumps(item).encode(), PartitionKey="k")


def test_a_restarted_mapping_resumes_after_its_checkpoint(kinesis, tmp_path):
    first = Function()
    _put(kinesis, {"n": 1}, {"n": 2})
    _drain(_mapping(kinesis, tmp_path, first))
    _put(kinesis, {"n": 3})
    again = Function()
    _drain(_mapping(kinesis, tmp_path, again))  # a new poller on the same state folder
    assert (first.seen(), again.seen()) == ([{"n": 1}, {"n": 2}], [{"n": 3}])


def test_a_stream_made_again_under_the_same_name_is_read_from_its_starting_position(kinesis, tmp_path):
    # An in-memory backend restarted with localfaas makes the stream again, its sequence numbers
    # starting over: the old stream's checkpoint must not skip the new stream's records.
    _put(kinesis, {"n": 1}, {"n": 2}, {"n": 3})
    _drain(_mapping(kinesis, tmp_path, Function()))
    kinesis.delete_stream(StreamName="shipments")
    time.sleep(0.01)  # a creation time of its own
    kinesis.create_stream(StreamName="shipments", ShardCount=1)
    _put(kinesis, {"n": 4})
    again = Function()
    _drain(_mapping(kinesis, tmp_path, again))
    assert again.seen() == [{"n": 4}]


def test_a_batch_in_flight_when_localfaas_dies_is_delivered_again(kinesis, tmp_path):
    function = Function()
    _put(kinesis, {"n": 1})
    _drain(_mapping(kinesis, tmp_path, function))
    _put(kinesis, {"n": 2}, {"n": 3})
    function.crash = True
    with pytest.raises(KeyboardInterrupt):
        _mapping(kinesis, tmp_path, function).poll_once(flush=True)
    function.crash = False
    _drain(_mapping(kinesis, tmp_path, function))
    assert function.seen() == [{"n": 1}, {"n": 2}, {"n": 3}]  # at least once: nothing lost


def test_a_record_retried_past_its_maximum_age_is_not_invoked_again(kinesis, tmp_path):
    now = [time.time()]
    answers = iter([False, True])
    events: list[dict] = []

    def function(name, event):
        events.append(event)
        now[0] += 120  # the failed invocation and its retry wait take two minutes of the run's time
        if next(answers):
            return InvocationResult(name, "r", payload=None)
        return InvocationResult(name, "r", error={"errorMessage": "busy", "errorType": "Busy"})

    _put(kinesis, {"n": 1})
    mapping = _mapping(kinesis, tmp_path, function, clock=lambda: now[0], MaximumRecordAgeInSeconds=60)
    _drain(mapping)
    assert len(events) == 1  # the retry found the record 120 s old: never sent to the function again
    assert (mapping.stats.records_expired, mapping.stats.records_discarded) == (1, 1)


def test_an_item_identifier_that_is_not_a_sequence_number_of_the_batch_fails_the_whole_batch(
    kinesis, tmp_path
):
    answers = iter([{"batchItemFailures": [{"itemIdentifier": ""}]}, {"batchItemFailures": []}])
    events: list[dict] = []

    def function(name, event):
        events.append(event)
        return InvocationResult(name, "r", payload=next(answers))

    _put(kinesis, {"n": 1}, {"n": 2})
    mapping = _mapping(kinesis, tmp_path, function, FunctionResponseTypes=["ReportBatchItemFailures"])
    _drain(mapping)
    assert [len(e["Records"]) for e in events] == [2, 2]  # retried whole, then a complete success
    assert (mapping.stats.retries, mapping.stats.records_delivered) == (1, 2)


# -- drawn by `localfaas graph`, run by `localfaas run` -----------------------------------------------

CHAIN = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.11
    Handler: app.handler
    Environment:
      Variables:
        TABLE: !Ref Orders
        STREAM: !Ref Shipments
Resources:
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      BillingMode: PAY_PER_REQUEST
      StreamSpecification: {StreamViewType: NEW_IMAGE}
  Shipments:
    Type: AWS::Kinesis::Stream
    Properties: {ShardCount: 2}
  Place:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: place/
      Policies: [DynamoDBWritePolicy: {TableName: !Ref Orders}]
      Events:
        Placed:
          Type: EventBridgeRule
          Properties:
            Pattern: {source: [shop], detail-type: [OrderPlaced]}
  Ship:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: ship/
      Policies:
        - Statement: [{Effect: Allow, Action: kinesis:PutRecord, Resource: !GetAtt Shipments.Arn}]
      Events:
        NewOrders:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Orders.StreamArn
            StartingPosition: TRIM_HORIZON
            FilterCriteria:
              Filters:
                - Pattern: '{"eventName": ["INSERT"]}'
  Track:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: track/
      Events:
        Shipped:
          Type: Kinesis
          Properties:
            Stream: !GetAtt Shipments.Arn
            StartingPosition: TRIM_HORIZON
            BatchSize: 10
"""

PLACE = """\
import os, boto3

table = boto3.client("dynamodb")


def handler(event, context):
    order = event["detail"]["orderId"]
    table.put_item(TableName=os.environ["TABLE"], Item={"id": {"S": order}, "state": {"S": "placed"}})
    table.update_item(
        TableName=os.environ["TABLE"],
        Key={"id": {"S": order}},
        UpdateExpression="SET #s = :paid",
        ExpressionAttributeNames={"#s": "state"},
        ExpressionAttributeValues={":paid": {"S": "paid"}},
    )
"""

SHIP = """\
import json, os, boto3

kinesis = boto3.client("kinesis")


def handler(event, context):
    for record in event["Records"]:
        order = record["dynamodb"]["NewImage"]["id"]["S"]
        kinesis.put_record(StreamName=os.environ["STREAM"], Data=json.dumps({"orderId": order}), PartitionKey=order)
"""

TRACK = """\
import base64, json, os

TRACE = os.path.join(os.path.dirname(__file__), "trace.txt")


def handler(event, context):
    with open(TRACE, "a") as trace:
        for record in event["Records"]:
            trace.write(json.loads(base64.b64decode(record["kinesis"]["data"]))["orderId"] + "\\n")
"""


def write_chain(tmp_path) -> Path:
    files = {"place/app.py": PLACE, "ship/app.py": SHIP, "track/app.py": TRACK}
    return write_app(tmp_path, CHAIN, files)


def test_graph_draws_the_table_and_the_stream_feeding_their_functions(tmp_path):
    graph = build_graph(load_stack(write_chain(tmp_path), stack_name="chain"))
    assert graph.nodes["Orders"].kind == "table" and graph.nodes["Shipments"].kind == "stream"
    assert graph.edge("Orders", "Ship") is not None
    assert graph.edge("Shipments", "Track") is not None


def test_localfaas_run_carries_an_order_from_an_event_through_a_table_stream_and_a_kinesis_stream(
    tmp_path, capsys
):
    write_chain(tmp_path)
    orders = ["o-1", "o-2", "o-3"]
    scenario = {
        "template": "template.yaml",
        "events": [
            {"Source": "shop", "DetailType": "OrderPlaced", "Detail": json.dumps({"orderId": o})}
            for o in orders
        ],
        "checks": [
            {"name": "inserts shipped", "metric": "esm.delivered[ShipNewOrders]", "equals": 3},
            {"name": "updates filtered", "metric": "esm.filtered[ShipNewOrders]", "equals": 3},
            {"name": "shipments tracked", "metric": "esm.delivered[TrackShipped]", "equals": 3},
        ],
    }
    (tmp_path / "scenario.json").write_text(json.dumps(scenario))
    report_path = tmp_path / "report.json"

    status = main(["run", "--scenario", str(tmp_path / "scenario.json"), "--json", str(report_path)])

    report = json.loads(report_path.read_text())
    assert status == 0, capsys.readouterr().out
    assert sorted((tmp_path / "track" / "trace.txt").read_text().split()) == orders
    assert [c["ok"] for c in report["checks"]] == [True, True, True]
    assert report["lost"]["total"] == 0
    assert "NOTHING LOST" in capsys.readouterr().out


def test_a_record_failing_forever_stops_the_run_and_is_named_never_settled(tmp_path):
    # MaximumRetryAttempts -1 (the default): retried until the record expires, blocking its shard.
    with stack_for(tmp_path, KINESIS) as stack:
        put(stack, {"poison": True}, {"n": 2})
        assert not stack.run_until_idle()
        report = stack.report()
    row = report.data["esm"]["TakeFromShipments"]
    assert (row["delivered"], row["unsettled"]) == (0, 2)
    assert "TakeFromShipments: 2 record(s) never settled" in report.data["lost"]["details"][0]
    assert "NOTHING LOST" not in report.render()


class SplitStream:
    """A stream whose shard 0 was split into 1 and 2 (moto keeps routing records to a split shard, so
    the lineage is given here, in the shapes ListShards and GetRecords answer)."""

    service, identity = "kinesis", "1"

    def __init__(self) -> None:
        self.held = {"shardId-0": [1, 2], "shardId-1": [3, 5], "shardId-2": [4, 6]}

    def shards(self) -> list[dict]:
        closed = {"SequenceNumberRange": {"StartingSequenceNumber": "1", "EndingSequenceNumber": "2"}}
        return [
            {"ShardId": "shardId-0", **closed},
            {"ShardId": "shardId-1", "ParentShardId": "shardId-0"},
            {"ShardId": "shardId-2", "ParentShardId": "shardId-0"},
        ]

    def iterator(self, shard_id, kind, sequence=None, at=None) -> str:
        after = int(sequence) if kind == "AFTER_SEQUENCE_NUMBER" else 0
        if kind == "LATEST":
            after = max(self.held[shard_id], default=0)  # the tip of the shard
        return f"{shard_id}|{after}"

    def records(self, shard_id, iterator, limit):
        after = int(iterator.split("|")[1])
        found = [n for n in self.held[shard_id] if n > after][:limit]
        records = [
            ShardRecord(shard_id, str(n), time.time(), {"sequenceNumber": str(n), "data": _b64({"n": n})}, 10)
            for n in found
        ]
        return records, f"{shard_id}|{found[-1] if found else after}"


def _b64(item: dict) -> str:
    return base64.b64encode(json.dumps(item).encode()).decode()


def test_after_a_split_the_parent_shard_is_read_to_its_end_before_its_children(tmp_path):
    function = Function()
    config = StreamMappingConfig.from_resource(
        "TakeFromShipments",
        {
            "EventSourceArn": "arn:aws:kinesis:us-east-1:123456789012:stream/shipments",
            "StartingPosition": "TRIM_HORIZON",
            "BatchSize": 1,  # the parent takes two rounds: its children must wait for both
        },
        function_name="take",
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:take",
    )
    mapping = StreamEventSourceMapping(config, SplitStream(), function, None, DurableStore(tmp_path))
    _drain(mapping)
    shards = [e["Records"][0]["eventID"].split(":")[0] for e in function.events]
    assert shards[:2] == ["shardId-0", "shardId-0"] and set(shards[2:]) == {"shardId-1", "shardId-2"}
    assert [d["n"] for d in function.seen()][:2] == [1, 2]
    assert sorted(d["n"] for d in function.seen()) == [1, 2, 3, 4, 5, 6]


def test_localfaas_up_delivers_stream_records_in_real_time(tmp_path):
    stop = threading.Event()
    with stack_for(tmp_path, KINESIS + DYNAMODB, real_time=True) as stack:
        server = threading.Thread(target=stack.serve_forever, args=(stop,), daemon=True)
        server.start()
        try:
            put(stack, {"n": 1}, {"n": 2})
            stack.client("dynamodb").put_item(TableName="localfaas-Orders", Item={"id": {"S": "o-1"}})
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                esm = stack.report().data["esm"]
                if (esm["TakeFromShipments"]["delivered"], esm["TakeFromOrders"]["delivered"]) == (2, 1):
                    break
                time.sleep(0.1)
        finally:
            stop.set()
            server.join(10)
    assert (esm["TakeFromShipments"]["delivered"], esm["TakeFromOrders"]["delivered"]) == (2, 1)


def test_a_parallelization_factor_keeps_each_key_in_order_and_a_failing_key_holds_only_its_lane(tmp_path):
    events = KINESIS + "            ParallelizationFactor: 2\n            BatchSize: 1\n"
    with stack_for(tmp_path, events) as stack:
        # "order-a" and "order-d" fall in different lanes of the shard (crc32 of the key, modulo 2).
        put(stack, {"key": "a", "n": 1, "poison": True}, key="order-a")
        put(stack, {"key": "a", "n": 2}, key="order-a")
        for n in (3, 4, 5):
            put(stack, {"key": "d", "n": n}, key="order-d")
        assert not stack.run_until_idle()  # order-a's first record fails forever (-1 retries)
        row = stack.report().data["esm"]["TakeFromShipments"]
    seen = [d for e in invocations(tmp_path) for d in datas(e)]
    assert [d["n"] for d in seen if d["key"] == "d"] == [3, 4, 5]
    assert {d["n"] for d in seen if d["key"] == "a"} == {1}  # record 2 waits behind its own key
    assert (row["delivered"], row["unsettled"]) == (3, 2)


def test_the_events_parse_with_powertools_models_of_kinesis_and_dynamodb_streams(tmp_path):
    from aws_lambda_powertools.utilities.parser.models import DynamoDBStreamModel, KinesisDataStreamModel

    with stack_for(tmp_path, KINESIS + DYNAMODB) as stack:
        put(stack, {"n": 1})
        stack.client("dynamodb").put_item(TableName="localfaas-Orders", Item={"id": {"S": "o-1"}})
        assert stack.run_until_idle()
    kinesis, dynamodb = sorted(invocations(tmp_path), key=lambda e: "dynamodb" in e["Records"][0])
    parsed = KinesisDataStreamModel.model_validate(kinesis)
    assert parsed.Records[0].kinesis.data == b'{"n": 1}'  # Powertools decodes the base64 data
    change = DynamoDBStreamModel.model_validate(dynamodb).Records[0]
    assert (change.eventName, change.dynamodb.Keys) == ("INSERT", {"id": "o-1"})


def test_a_dynamodb_batch_given_up_is_described_by_its_ddb_stream_batch_info(tmp_path):
    events = DYNAMODB + "            MaximumRetryAttempts: 1\n" + TO_GIVEN_UP
    with stack_for(tmp_path, events) as stack:
        table = stack.client("dynamodb")
        table.put_item(TableName="localfaas-Orders", Item={"id": {"S": "o-1"}, "poison": {"BOOL": True}})
        assert stack.run_until_idle()
        latest = table.describe_table(TableName="localfaas-Orders")["Table"]["LatestStreamArn"]
        [document] = given_up(stack)
    [sequence] = {r["dynamodb"]["SequenceNumber"] for e in invocations(tmp_path) for r in e["Records"]}
    info = document["DDBStreamBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (
        sequence,
        sequence,
        1,
    )
    assert info["streamArn"] == latest and info["shardId"].startswith("shardId-")
    assert (
        document["requestContext"]["condition"],
        document["requestContext"]["approximateInvokeCount"],
    ) == (
        "RetryAttemptsExhausted",
        2,
    )


def test_a_shard_that_appears_after_a_latest_start_is_read_from_its_start(tmp_path):
    class GrowingStream(SplitStream):
        """Shard 0 alone at the start; its children appear at the next listing."""

        listed = 0

        def shards(self) -> list[dict]:
            self.listed += 1
            return super().shards()[: 1 if self.listed == 1 else 3]

    function = Function()
    config = StreamMappingConfig.from_resource(
        "TakeFromShipments",
        {
            "EventSourceArn": "arn:aws:kinesis:us-east-1:123456789012:stream/shipments",
            "StartingPosition": "LATEST",
        },
        function_name="take",
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:take",
    )
    stream = GrowingStream()
    stream.held["shardId-0"] = []  # LATEST: nothing of the parent's is delivered
    mapping = StreamEventSourceMapping(config, stream, function, None, DurableStore(tmp_path))
    _drain(mapping)
    assert sorted(d["n"] for d in function.seen()) == [3, 4, 5, 6]
