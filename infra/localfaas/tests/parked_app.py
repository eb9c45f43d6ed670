"""A small SAM app whose every kind of failure destination fills up until a flag file exists.

`Count` fails until FLAG_FILE exists, then adds 1 to `times` of one item per record or event in the
Effects table, so a test sees each effect happen exactly once. Its Kafka mappings give up at once
(no retries) to an SQS queue, an S3 bucket, an SNS topic and a kafka:// topic; its EventBridge rule
invokes it asynchronously with no retries and an SQS on-failure destination. `Late` has a DLQ. A
rule targets a queue that does not exist yet (NO_RESOURCE), so its events go to the target's DLQ.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infra.localfaas.tests.sam_app import write_app

CLUSTER = "arn:aws:kafka:us-east-1:123456789012:cluster/shop/abcd1234-abcd-cafe-abab-9876543210ab-4"


def _mapping(topic: str, destination: str) -> str:
    return f"""
        {topic.title().replace("-", "")}:
          Type: MSK
          Properties:
            Stream: {CLUSTER}
            Topics: [{topic}]
            StartingPosition: TRIM_HORIZON
            BatchSize: 10
            MaximumRetryAttempts: 0
            BisectBatchOnFunctionError: true
            DestinationConfig: {{OnFailure: {{Destination: {destination}}}}}"""


TEMPLATE = f"""\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.11
    Handler: app.handler
    CodeUri: count/
    Timeout: 20
    Environment:
      Variables:
        EFFECTS_TABLE: !Ref Effects
        FLAG_FILE: ""
Resources:
  Effects:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{{AttributeName: id, AttributeType: S}}]
      KeySchema: [{{AttributeName: id, KeyType: HASH}}]
  ParkedRecords:
    Type: AWS::SQS::Queue
    Properties: {{QueueName: parked-records}}
  ParkedEvents:
    Type: AWS::SQS::Queue
    Properties: {{QueueName: parked-events}}
  LateLetters:
    Type: AWS::SQS::Queue
    Properties: {{QueueName: late-letters}}
  Undelivered:
    Type: AWS::SQS::Queue
    Properties: {{QueueName: undelivered}}
  ParkedBucket:
    Type: AWS::S3::Bucket
    Properties: {{BucketName: parked-bucket}}
  ParkedTopic:
    Type: AWS::SNS::Topic
    Properties: {{TopicName: parked-topic}}
  Count:
    Type: AWS::Serverless::Function
    Properties:
      Policies: [DynamoDBWritePolicy: {{TableName: !Ref Effects}}]
      EventInvokeConfig:
        MaximumRetryAttempts: 0
        DestinationConfig: {{OnFailure: {{Type: SQS, Destination: !GetAtt ParkedEvents.Arn}}}}
      Events:{_mapping("to-sqs", "!GetAtt ParkedRecords.Arn")}{_mapping("to-s3", "!GetAtt ParkedBucket.Arn")}\
{_mapping("to-sns", "!Ref ParkedTopic")}{_mapping("to-kafka", "kafka://parked")}
        Counted:
          Type: EventBridgeRule
          Properties:
            Pattern: {{source: [shop], detail-type: [Counted]}}
  Late:
    Type: AWS::Serverless::Function
    Properties:
      Policies: [DynamoDBWritePolicy: {{TableName: !Ref Effects}}]
      DeadLetterQueue: {{Type: SQS, TargetArn: !GetAtt LateLetters.Arn}}
  ToMissingQueue:
    Type: AWS::Events::Rule
    Properties:
      EventPattern: {{source: [shop], detail-type: [Shipped]}}
      Targets:
        - Id: Shipments
          Arn: !Sub arn:aws:sqs:${{AWS::Region}}:${{AWS::AccountId}}:shipments
          DeadLetterConfig: {{Arn: !GetAtt Undelivered.Arn}}
"""

COUNT = """\
import base64, json, os
import boto3

table = boto3.resource("dynamodb").Table(os.environ["EFFECTS_TABLE"])


def handler(event, context):
    if not os.path.exists(os.environ["FLAG_FILE"]):
        raise RuntimeError("not fixed yet")
    if "records" in event:
        ids = [json.loads(base64.b64decode(r["value"]))["id"] for rs in event["records"].values() for r in rs]
    else:
        ids = [event["detail"]["id"]]
    for id_ in ids:
        table.update_item(Key={"id": id_}, UpdateExpression="ADD times :one", ExpressionAttributeValues={":one": 1})
"""

TOPICS = {"to-sqs": 2, "to-s3": 1, "to-sns": 1, "to-kafka": 1, "parked": 1}


def write_parked_app(root: Path) -> Path:
    return write_app(root, TEMPLATE, {"count/app.py": COUNT})


def environment(flag: Path) -> dict[str, dict[str, Any]]:
    return {"Parameters": {"FLAG_FILE": str(flag)}}


def effects(stack: Any) -> dict[str, int]:
    """Effects table: id -> how many times its effect happened."""
    items = stack.client("dynamodb").scan(TableName=stack.physical_name("Effects"))["Items"]
    return {item["id"]["S"]: int(item["times"]["N"]) for item in items}
