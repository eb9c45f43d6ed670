"""MaximumRecordAgeInSeconds under `localfaas run`: virtual time follows the scenario's records (it
begins at the first and moves with each slice released), so a record's age is measured in the
scenario's time, not the machine's, and the invocation record that gives it up is stamped after it ("Using a Kafka topic as an
on-failure destination"; "Capturing discarded batches for Amazon MSK and self-managed Apache Kafka
event sources", https://docs.aws.amazon.com/lambda/latest/dg/kafka-on-failure.html)."""

from __future__ import annotations

import json
from datetime import datetime

from infra.localfaas.tests.sam_app import write_app
from localfaas.local_stack import LocalStack
from localfaas.scenario import load_scenario

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
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
        Orders:
          Type: MSK
          Properties:
            Stream: arn:aws:kafka:us-east-1:123456789012:cluster/shop/abcd1234-abcd-cafe-abab-9876543210ab-4
            Topics: [orders]
            StartingPosition: TRIM_HORIZON
            MaximumRecordAgeInSeconds: 60
            MaximumRetryAttempts: MAXIMUM_RETRY_ATTEMPTS
            DestinationConfig:
              OnFailure:
                Destination: !GetAtt GivenUp.Arn
"""

APP = """\
import base64, json

taken = []


def handler(event, context):
    for records in event["records"].values():
        for record in records:
            order = json.loads(base64.b64decode(record["value"]))
            if order.get("poison"):
                raise ValueError("a poison order")
            taken.append(order["orderId"])
"""


def run(tmp_path, records: list[dict], **options) -> tuple[dict, list[dict]]:
    """The mapping's report and the invocation records in its on-failure queue."""
    write_app(tmp_path, TEMPLATE.replace("MAXIMUM_RETRY_ATTEMPTS", "1"), {"src/app.py": APP})
    (tmp_path / "scenario.json").write_text(json.dumps({"template": "template.yaml", "records": records}))
    scenario = load_scenario(tmp_path / "scenario.json")
    with LocalStack(scenario.template) as stack:
        stack.run_scenario(scenario, **options)
        report = stack.report(scenario).data["esm"]["TakeOrders"]
        sqs = stack.client("sqs")
        queue = sqs.get_queue_url(QueueName="given-up")["QueueUrl"]
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    return report, [json.loads(m["Body"]) for m in messages]


def order(order_id: str, at: str, *, poison: bool = False) -> dict:
    value = {"orderId": order_id, "poison": poison}
    return {"topic": "orders", "key": order_id, "value": value, "timestamp": at}


def test_records_of_a_day_in_the_machine_s_past_are_not_too_old_for_their_mapping(tmp_path):
    # Days before the machine's clock, a minute apart: measured against the machine's clock each is
    # days over the 60 s limit; in the scenario's own time neither is.
    day = [order("o-1", "2026-11-25T08:00:00Z"), order("o-2", "2026-11-25T08:01:00Z")]

    report, given_up = run(tmp_path, day, window_s=3600)

    assert (report["delivered"], report["to_destination"], given_up) == (2, 0, [])


def test_a_record_given_up_is_stamped_after_its_own_timestamp(tmp_path):
    later = "2030-01-01T08:00:00Z"  # after the machine's clock: a clock frozen at the start is before it

    report, [given_up] = run(tmp_path, [order("o-1", later, poison=True)])

    assert given_up["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert report["to_destination"] == 1
    assert _epoch(given_up["timestamp"]) >= _epoch(later)


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
