"""`localfaas run` and the LocalStack behind it, end to end on a small generic SAM app: two functions on
Kafka topics and one on an EventBridge rule, moto as the backend, both runtimes, and the Kafka log on
Tansu. The handlers are written here; they record what they did in a DynamoDB table and a trace file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.localfaas.tests.sam_app import write_app
from localfaas.cli import main
from localfaas.local_stack import LocalStack
from localfaas.scenario import load_scenario

SHOP_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  OrdersTopic: {Type: String, Default: orders}
  PaymentsTopic: {Type: String, Default: payments}
  FailedQueueName: {Type: String, Default: shop-failed}
Globals:
  Function:
    Runtime: python3.11
    Handler: app.handler
    Timeout: 20
    Environment:
      Variables:
        RECORDS_TABLE: !Ref Records
        BUS_NAME: !Ref Bus
        TRACE_FILE: ""
Resources:
  Bus:
    Type: AWS::Events::EventBus
    Properties: {Name: shop}
  Records:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
  Failed:
    Type: AWS::SQS::Queue
    Properties: {QueueName: shop-failed}
  TakeOrder:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: take_order/
      Policies:
        - DynamoDBWritePolicy: {TableName: !Ref Records}
        - EventBridgePutEventsPolicy: {EventBusName: !Ref Bus}
      Events:
        Orders:
          Type: MSK
          Properties:
            Stream: arn:aws:kafka:us-east-1:123456789012:cluster/shop/abcd1234-abcd-cafe-abab-9876543210ab-4
            Topics: [!Ref OrdersTopic]
            StartingPosition: TRIM_HORIZON
            BatchSize: 10
            MaximumRetryAttempts: 1
            BisectBatchOnFunctionError: true
            DestinationConfig:
              OnFailure:
                Destination: !Sub arn:aws:sqs:${AWS::Region}:${AWS::AccountId}:${FailedQueueName}
  TakePayment:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: take_payment/
      Policies: [DynamoDBWritePolicy: {TableName: !Ref Records}]
      Events:
        Payments:
          Type: MSK
          Properties:
            Stream: arn:aws:kafka:us-east-1:123456789012:cluster/shop/abcd1234-abcd-cafe-abab-9876543210ab-4
            Topics: [!Ref PaymentsTopic]
            StartingPosition: TRIM_HORIZON
            FilterCriteria:
              Filters: [{Pattern: '{"value": {"amount": [{"numeric": [">", 0]}]}}'}]
  Notify:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: notify/
      Policies: [DynamoDBWritePolicy: {TableName: !Ref Records}]
      Events:
        OrderTaken:
          Type: EventBridgeRule
          Properties:
            EventBusName: !Ref Bus
            Pattern: {source: [shop.orders], detail-type: [OrderTaken]}
"""

TAKE_ORDER = """\
import base64, json, os
import boto3

table = boto3.resource("dynamodb").Table(os.environ["RECORDS_TABLE"])
events = boto3.client("events")


def handler(event, context):
    orders = [json.loads(base64.b64decode(r["value"])) for rs in event["records"].values() for r in rs]
    if any(order.get("poison") for order in orders):
        raise ValueError("a poison order")  # before any side effect: the whole batch fails
    for order in orders:
        table.put_item(Item={"id": order["orderId"], "kind": "order"})
        if os.environ["TRACE_FILE"]:
            with open(os.environ["TRACE_FILE"], "a") as trace:
                trace.write(order["orderId"] + "\\n")
    for start in range(0, len(orders), 10):
        entries = [
            {"EventBusName": os.environ["BUS_NAME"], "Source": "shop.orders", "DetailType": "OrderTaken",
             "Detail": json.dumps({"orderId": order["orderId"]})}
            for order in orders[start:start + 10]
        ]
        response = events.put_events(Entries=entries)
        assert response["FailedEntryCount"] == 0, response
"""

TAKE_PAYMENT = """\
import base64, json, os
import boto3

table = boto3.resource("dynamodb").Table(os.environ["RECORDS_TABLE"])


def handler(event, context):
    for records in event["records"].values():
        for record in records:
            payment = json.loads(base64.b64decode(record["value"]))
            table.put_item(Item={"id": "payment#" + payment["paymentId"], "kind": "payment"})
"""

NOTIFY = """\
import os
import boto3

table = boto3.resource("dynamodb").Table(os.environ["RECORDS_TABLE"])


def handler(event, context):
    table.put_item(Item={"id": "notified#" + event["detail"]["orderId"], "kind": "notice"})
"""


def write_shop(root: Path) -> Path:
    return write_app(
        root,
        SHOP_TEMPLATE,
        {"take_order/app.py": TAKE_ORDER, "take_payment/app.py": TAKE_PAYMENT, "notify/app.py": NOTIFY},
    )


def order(order_id: str, **fields) -> dict:
    return {"topic": "orders", "key": "shop", "value": {"orderId": order_id, **fields}}


def write_scenario(root: Path, records: list[dict], **fields) -> Path:
    scenario = {
        "name": "shop-day",
        "template": "template.yaml",
        "topics": {"orders": {"partitions": 1}, "payments": {"partitions": 2}},
        "records": records,
        **fields,
    }
    path = root / "scenario.json"
    path.write_text(json.dumps(scenario))
    return path


DAY = [
    order("o-1"),
    order("o-2"),
    {"topic": "payments", "key": "o-1", "value": {"paymentId": "p-1", "amount": 20}},
    {"topic": "payments", "key": "o-2", "value": {"paymentId": "p-2", "amount": 0}},  # filtered out
    order("o-3"),
]


def ids(stack: LocalStack, kind: str) -> list[str]:
    items = stack.client("dynamodb").scan(TableName=stack.physical_name("Records"))["Items"]
    return sorted(item["id"]["S"] for item in items if item["kind"]["S"] == kind)


@pytest.mark.parametrize("runtime", ["in-process", "worker"])
def test_scenario_runs_through_every_function_and_nothing_is_lost(tmp_path, runtime):
    write_shop(tmp_path)
    scenario = load_scenario(write_scenario(tmp_path, DAY))
    with LocalStack(scenario.template, runtime=runtime, topics=scenario.topics) as stack:
        stack.feed(scenario)
        assert stack.run_until_idle()
        report = stack.report(scenario)
        assert ids(stack, "order") == ["o-1", "o-2", "o-3"]
        assert ids(stack, "payment") == ["payment#p-1"]
        assert ids(stack, "notice") == ["notified#o-1", "notified#o-2", "notified#o-3"]
    data = report.data
    assert data["records"]["produced"] == 5
    assert data["esm"]["TakePaymentPayments"]["filtered"] == 1
    assert data["esm"]["TakePaymentPayments"]["delivered"] == 1
    assert data["esm"]["TakeOrderOrders"]["delivered"] == 3
    assert data["functions"]["Notify"]["invocations"] == 3
    assert data["functions"]["Notify"]["cold_starts"] == 1
    assert data["bus"]["events"] == {"shop.orders/OrderTaken": 3}
    assert data["dynamodb"]["Records"]["items"] == 7
    assert report.lost == 0 and report.ok


def test_a_functions_put_events_reaches_the_rules_lambda_target_through_the_endpoint(tmp_path):
    write_shop(tmp_path)
    with LocalStack(tmp_path / "template.yaml") as stack:
        assert stack.runtime.extra_env["AWS_ENDPOINT_URL_EVENTBRIDGE"] == stack.events_api.endpoint_url
        stack.produce("orders", {"orderId": "o-9"}, key="shop")
        stack.run_until_idle()
        assert ids(stack, "notice") == ["notified#o-9"]
        outcome = stack.buses["shop"].outcomes[0]
        assert (outcome.rule, outcome.result) == ("NotifyOrderTaken", "delivered")


def test_scenario_events_are_put_on_their_bus_and_routed_by_its_rules(tmp_path):
    write_shop(tmp_path)
    entry = {
        "EventBusName": "shop",
        "Source": "shop.orders",
        "DetailType": "OrderTaken",
        "Detail": {"orderId": "o-7"},
    }
    elsewhere = {**entry, "EventBusName": "missing"}
    scenario = load_scenario(write_scenario(tmp_path, [], events=[entry, elsewhere]))
    with LocalStack(scenario.template) as stack:
        stack.feed(scenario)
        stack.run_until_idle()
        assert ids(stack, "notice") == ["notified#o-7"]
        report = stack.report(scenario)
    assert report.data["bus"]["events_put"] == 1
    assert report.data["bus"]["events_failed"] == 1


def test_poison_record_lands_in_the_on_failure_queue_while_its_partition_flows_on_in_order(tmp_path):
    write_shop(tmp_path)
    trace = tmp_path / "trace.txt"
    records = [order("o-1"), order("o-2"), order("o-3", poison=True), order("o-4"), order("o-5")]
    scenario = load_scenario(write_scenario(tmp_path, records))
    environment = {"Parameters": {"TRACE_FILE": str(trace)}}
    with LocalStack(scenario.template, topics=scenario.topics, environment=environment) as stack:
        stack.feed(scenario)
        assert stack.run_until_idle()
        sqs = stack.client("sqs")
        url = sqs.get_queue_url(QueueName="shop-failed")["QueueUrl"]
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        report = stack.report(scenario)
    assert trace.read_text().split() == ["o-1", "o-2", "o-4", "o-5"]
    assert len(messages) == 1
    failed = json.loads(messages[0]["Body"])
    assert failed["KafkaBatchInfo"]["recordsInfo"]["orders-0"]["firstRecordOffset"] == "2"
    assert failed["KafkaBatchInfo"]["recordsInfo"]["orders-0"]["lastRecordOffset"] == "2"
    mapping = report.data["esm"]["TakeOrderOrders"]
    assert (mapping["delivered"], mapping["to_destination"], mapping["lost"]) == (4, 1, 0)
    assert mapping["bisected"] >= 2
    assert report.data["functions"]["TakeOrder"]["errors"] >= 2
    assert report.lost == 0


def test_a_windowed_run_releases_records_in_timestamp_order_and_counts_progress_against_all(tmp_path):
    write_shop(tmp_path)
    trace = tmp_path / "trace.txt"
    records = [
        {**order("o-noon"), "timestamp": "2026-11-25T12:00:00Z"},
        {**order("o-eight"), "timestamp": "2026-11-25T08:00:00Z"},
        {**order("o-nine"), "timestamp": "2026-11-25T09:00:00Z"},
    ]
    scenario = load_scenario(write_scenario(tmp_path, records, windowSeconds=3600))
    seen = []
    environment = {"Parameters": {"TRACE_FILE": str(trace)}}
    with LocalStack(scenario.template, topics=scenario.topics, environment=environment) as stack:
        assert stack.run_scenario(
            scenario, window_s=scenario.window_s, progress=lambda s, t: seen.append((s, t))
        )
    assert trace.read_text().split() == ["o-eight", "o-nine", "o-noon"]
    assert {total for _, total in seen} == {3}
    assert seen[-1] == (3, 3)


def test_run_exits_non_zero_and_names_the_record_when_its_destination_cannot_be_reached(tmp_path, capsys):
    write_shop(tmp_path)
    scenario = write_scenario(
        tmp_path, [order("o-1"), order("o-2", poison=True)], parameters={"FailedQueueName": "nowhere"}
    )
    report_path = tmp_path / "report.json"
    status = main(["run", "--scenario", str(scenario), "--json", str(report_path)])
    assert status == 1
    report = json.loads(report_path.read_text())
    assert report["lost"]["total"] == 1
    assert report["esm"]["TakeOrderOrders"]["unsettled"] == 1
    assert "TakeOrderOrders: 1 record(s) never settled" in report["lost"]["details"][0]
    assert "LOST: 1" in capsys.readouterr().out


def test_run_prints_checks_against_the_expected_block_and_fails_when_one_is_off(tmp_path, capsys):
    write_shop(tmp_path)
    checks = [
        {"name": "orders stored", "metric": "dynamodb.items[Records]", "min": {"expected": "orders"}},
        {"name": "notices", "metric": "functions.invocations[Notify]", "expected": "orders"},
        {"name": "payments", "metric": "bus.events[shop.payments/PaymentTaken]", "equals": 1},
    ]
    scenario = write_scenario(tmp_path, DAY, expected={"orders": 3}, checks=checks)
    report_path = tmp_path / "report.json"
    assert main(["run", "--scenario", str(scenario), "--json", str(report_path)]) == 1
    results = {check["name"]: check for check in json.loads(report_path.read_text())["checks"]}
    assert results["orders stored"]["ok"] and results["notices"]["ok"]
    assert results["payments"]["actual"] == 0 and not results["payments"]["ok"]
    out = capsys.readouterr().out
    assert "NOTHING LOST" in out
    assert "FAIL  payments" in out


def test_run_refuses_a_scenario_naming_a_bad_field_with_usage_status(tmp_path, capsys):
    write_shop(tmp_path)
    scenario = write_scenario(tmp_path, [order("o-1"), {"topic": "orders", "value": {}, "timestamp": "noon"}])
    assert main(["run", "--scenario", str(scenario)]) == 2
    assert "records[1].timestamp" in capsys.readouterr().err


@pytest.mark.kafka
def test_scenario_runs_over_a_kafka_broker(tmp_path, tansu_bootstrap):
    write_shop(tmp_path)
    suffix = tmp_path.name.replace("_", "-")
    topics = {"OrdersTopic": f"orders-{suffix}", "PaymentsTopic": f"payments-{suffix}"}
    records = [
        {**order("o-1"), "topic": topics["OrdersTopic"]},
        {**order("o-2", poison=True), "topic": topics["OrdersTopic"]},
        {**order("o-3"), "topic": topics["OrdersTopic"]},
        {"topic": topics["PaymentsTopic"], "key": "o-1", "value": {"paymentId": "p-1", "amount": 5}},
    ]
    scenario = load_scenario(write_scenario(tmp_path, records, parameters=topics, topics={}))
    with LocalStack(
        scenario.template, parameters=scenario.parameters, log="kafka", bootstrap_servers=tansu_bootstrap
    ) as stack:
        stack.feed(scenario)
        assert stack.run_until_idle()
        assert ids(stack, "order") == ["o-1", "o-3"]
        assert ids(stack, "notice") == ["notified#o-1", "notified#o-3"]
        report = stack.report(scenario)
    assert report.data["esm"]["TakeOrderOrders"]["to_destination"] == 1
    assert report.data["esm"]["TakePaymentPayments"]["delivered"] == 1
    assert report.lost == 0
