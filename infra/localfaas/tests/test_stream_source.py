"""Kinesis and DynamoDB Streams mappings (localfaas.stream_source) against what AWS documents: the
events Lambda sends, order per shard, the checkpoint rule of partial batch responses, retries,
bisection, filters, the on-failure invocation record and tumbling windows ("Using AWS Lambda with
Amazon Kinesis", https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html; "Using AWS Lambda
with Amazon DynamoDB", https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html). Each test is a
small SAM app run by LocalStack in virtual time on moto; records are put through the AWS APIs."""

from __future__ import annotations

import base64
import json

import pytest

from infra.localfaas.tests.sam_app import write_app
from localfaas.esm import InvalidEventSourceMappingError
from localfaas.local_stack import LocalStack

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

# Records what it was invoked with; a Kinesis record whose data says "poison" fails the invocation,
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
        [document] = given_up(stack)
        row = stack.report().data["esm"]["TakeFromShipments"]
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
