"""Kill and resume: `localfaas run` SIGKILLed in the middle of a scenario, then run again on the same
state folder against the same moto server (which another process, this test, owns), ends with every
accepted record, event and asynchronous invocation at its target, nothing done twice by an idempotent
app, and the report of a run that was never killed.

The app: TakeOrder (Kafka, one record a batch) records an order and announces OrderTaken on the bus;
Notify (the rule's Lambda target, so invoked asynchronously) records a notice once per order and sends
one message per notice to a queue; on its third invocation of the first run it kills the whole
`localfaas run` (the in-process runtime runs it inside that process), after its event was accepted
and its invocation queued, before it did anything.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import localfaas
from infra.localfaas.tests.sam_app import write_app
from localfaas.backend import MotoBackend

pytestmark = pytest.mark.slow

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.11
    Handler: app.handler
    Timeout: 20
    Environment:
      Variables:
        RECORDS_TABLE: !Ref Records
        NOTICES_QUEUE: !Ref Notices
        BUS_NAME: !Ref Bus
        KILL_FLAG: ""
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
  Notices:
    Type: AWS::SQS::Queue
    Properties: {QueueName: shop-notices}
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
            Topics: [orders]
            StartingPosition: TRIM_HORIZON
            BatchSize: 1
  Notify:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: notify/
      Policies:
        - DynamoDBWritePolicy: {TableName: !Ref Records}
        - SQSSendMessagePolicy: {QueueName: !GetAtt Notices.QueueName}
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
    for records in event["records"].values():
        for record in records:
            order = json.loads(base64.b64decode(record["value"]))
            table.put_item(Item={"id": "order#" + order["orderId"]})
            detail = json.dumps({"orderId": order["orderId"]})
            entry = {"EventBusName": os.environ["BUS_NAME"], "Source": "shop.orders",
                     "DetailType": "OrderTaken", "Detail": detail}
            assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0
"""

NOTIFY = """\
import os, signal
import boto3
from botocore.exceptions import ClientError

table = boto3.resource("dynamodb").Table(os.environ["RECORDS_TABLE"])
sqs = boto3.client("sqs")
invocations = 0


def handler(event, context):
    global invocations
    invocations += 1
    flag = os.environ["KILL_FLAG"]
    if flag and invocations == 3 and not os.path.exists(flag):
        open(flag, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    order_id = event["detail"]["orderId"]
    try:  # one notice per order, however often the event comes
        table.put_item(Item={"id": "notice#" + order_id}, ConditionExpression="attribute_not_exists(id)")
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return
        raise
    sqs.send_message(QueueUrl=os.environ["NOTICES_QUEUE"], MessageBody=order_id)
"""

ORDERS = [f"o-{n}" for n in range(1, 7)]


def write_shop(root: Path, kill_flag: Path | None) -> Path:
    write_app(root, TEMPLATE, {"take_order/app.py": TAKE_ORDER, "notify/app.py": NOTIFY})
    scenario = {
        "name": "kill-and-resume",
        "template": "template.yaml",
        "topics": {"orders": {"partitions": 1}},
        "windowSeconds": 30,  # one record a slice: the kill leaves records not yet produced
        "records": [
            {
                "topic": "orders",
                "key": order,
                "value": {"orderId": order},
                "timestamp": 1_700_000_000_000 + 60_000 * n,
            }
            for n, order in enumerate(ORDERS)
        ],
        "events": [
            {
                "EventBusName": "shop",
                "Source": "shop.orders",
                "DetailType": "OrderTaken",
                "Detail": json.dumps({"orderId": "o-phone"}),
            },
        ],
        "environment": {"Parameters": {"KILL_FLAG": str(kill_flag) if kill_flag else ""}},
    }
    path = root / "scenario.json"
    path.write_text(json.dumps(scenario))
    return path


def localfaas_run(scenario: Path, report: Path, *options: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", "import sys; from localfaas.cli import main; sys.exit(main())"]
    return subprocess.run(
        [*command, "run", "--scenario", str(scenario), "--json", str(report), *options],
        capture_output=True,
        text=True,
        env=_child_env(),
        timeout=300,
    )


def _child_env() -> dict[str, str]:
    """This environment, with the localfaas this test imported first on the child's path: the child
    runs the code under test, not whichever copy the virtualenv installed."""
    here = str(Path(localfaas.__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))}


def totals(report: dict) -> dict:
    """What a killed-and-resumed run must count as an uninterrupted one does: everything but the
    per-process invocation timings and the run's own facts."""
    return {key: value for key, value in report.items() if key not in ("run", "functions")}


def test_a_run_killed_mid_scenario_resumes_to_the_effects_and_report_of_an_uninterrupted_run(tmp_path):
    whole = tmp_path / "whole"
    uninterrupted = localfaas_run(write_shop(whole, None), whole / "report.json")
    assert uninterrupted.returncode == 0, uninterrupted.stderr

    moto = MotoBackend(reset=True).start()
    try:
        app, state, flag = tmp_path / "app", tmp_path / "state", tmp_path / "killed"
        scenario = write_shop(app, flag)
        options = ("--state-dir", str(state), "--moto-endpoint", moto.endpoint_url)
        killed = localfaas_run(scenario, app / "killed.json", *options)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        assert flag.exists() and not (app / "killed.json").exists()
        assert _notices_waiting(moto) < len(ORDERS) + 1  # killed before the end: work was left to resume

        resumed = localfaas_run(scenario, app / "resumed.json", *options)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert "resumed" in resumed.stderr

        table = moto.client("dynamodb").scan(TableName=_table_name(moto))["Items"]
        ids = sorted(item["id"]["S"] for item in table)
        assert ids == sorted([f"order#{o}" for o in ORDERS] + [f"notice#{o}" for o in [*ORDERS, "o-phone"]])
        whole_report = json.loads((whole / "report.json").read_text())
        resumed_report = json.loads((app / "resumed.json").read_text())
        assert totals(resumed_report) == totals(whole_report)
        assert resumed_report["records"]["produced"] == len(ORDERS)
        assert resumed_report["lost"]["total"] == 0
        assert sorted(_notified(moto)) == sorted([*ORDERS, "o-phone"])  # each notice sent once
    finally:
        moto.stop()


def _table_name(moto: MotoBackend) -> str:
    [name] = [n for n in moto.client("dynamodb").list_tables()["TableNames"] if "Records" in n]
    return name


def _notices_waiting(moto: MotoBackend) -> int:
    sqs = moto.client("sqs")
    url = sqs.get_queue_url(QueueName="shop-notices")["QueueUrl"]
    return int(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
            "ApproximateNumberOfMessages"
        ]
    )


def _notified(moto: MotoBackend) -> list[str]:
    """Every notice sent (read once: reading hides them for ten minutes)."""
    sqs = moto.client("sqs")
    url = sqs.get_queue_url(QueueName="shop-notices")["QueueUrl"]
    bodies = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600).get(
        "Messages"
    ):
        bodies += [message["Body"] for message in batch]
    return bodies


def test_a_stack_started_again_on_its_state_folder_resumes_an_event_it_accepted_with_new_ids(tmp_path):
    from localfaas.local_stack import LocalStack

    template = write_app(
        tmp_path / "app", TEMPLATE, {"take_order/app.py": TAKE_ORDER, "notify/app.py": NOTIFY}
    )
    entry = {
        "EventBusName": "shop",
        "Source": "shop.orders",
        "DetailType": "OrderTaken",
        "Detail": '{"orderId": "o-1"}',
    }
    state = tmp_path / "state"
    with LocalStack(template, state_dir=state, log_dir=tmp_path / "log") as first:
        [accepted] = first.put_events([entry])["Entries"]  # accepted, then stopped before delivering it
        fresh_run_id = accepted["EventId"]
    assert stat.S_IMODE(state.stat().st_mode) == 0o700

    with LocalStack(template, state_dir=state, log_dir=tmp_path / "log") as again:
        assert again.resumed == {"events": 1, "invocations": 0}
        [second] = again.put_events([entry])["Entries"]
        assert again.run_until_idle()
        notices = again.client("dynamodb").scan(TableName=again.physical_name("Records"))["Items"]
        assert [item["id"]["S"] for item in notices] == ["notice#o-1"]
        assert again.report().data["bus"]["events_put"] == 2
    assert second["EventId"] != fresh_run_id  # a restart draws ids the killed run did not

    with LocalStack(template, log_dir=tmp_path / "other-log") as elsewhere:  # a fresh state starts empty
        assert elsewhere.resumed == {"events": 0, "invocations": 0}
        assert elsewhere.put_events([entry])["Entries"][0]["EventId"] == fresh_run_id  # reproducible
        on_default = elsewhere.put_events([{**entry, "EventBusName": "default"}])["Entries"][0]["EventId"]
        assert on_default != fresh_run_id  # each bus draws its own ids


def test_a_moto_endpoint_with_another_backend_is_a_one_line_usage_error(tmp_path, capsys):
    from localfaas.cli import main

    scenario = write_shop(tmp_path, None)
    status = main(
        ["run", "--scenario", str(scenario), "--backend", "aws", "--moto-endpoint", "http://127.0.0.1:1"]
    )
    assert status == 2
    assert capsys.readouterr().err == (
        "localfaas run: error: --moto-endpoint is a moto server; it cannot be used with --backend aws\n"
    )
