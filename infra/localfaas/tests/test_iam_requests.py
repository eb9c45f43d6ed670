"""What an SDK call asks of IAM: the action each operation is authorized as and the resource ARN it
names, read from the request botocore sends (as the Service Authorization Reference gives them)."""

from __future__ import annotations

import boto3
import pytest

from localfaas.iam_requests import requested
from localfaas.sdk_hooks import SdkCall

ACCOUNT = "123456789012"
REGION = "us-east-1"


class Captured(Exception):
    pass


def asked(service, operation, endpoint_url=None, **params):
    """What the request botocore would send for this call asks of IAM."""
    session = boto3.session.Session(
        aws_access_key_id="ASIAEXAMPLE", aws_secret_access_key="x", aws_session_token="y", region_name=REGION
    )
    client = session.client(service, endpoint_url=endpoint_url)

    def grab(request, **_):
        raise Captured(request)

    client.meta.events.register_first("before-send", grab)
    with pytest.raises(Captured) as caught:
        getattr(client, operation)(**params)
    request = caught.value.args[0]
    body = request.body if isinstance(request.body, bytes) else str(request.body or "").encode()
    return requested(SdkCall(request.method, request.url, request.headers, body), REGION, ACCOUNT)


TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table"


def test_dynamodb_item_calls_are_on_their_table_and_queries_on_their_index():
    assert asked("dynamodb", "update_item", TableName="Accounts", Key={"id": {"S": "1"}}) == [
        ("dynamodb:UpdateItem", f"{TABLE}/Accounts")
    ]
    assert asked(
        "dynamodb",
        "query",
        TableName="Accounts",
        IndexName="ByEmail",
        KeyConditionExpression="email = :e",
        ExpressionAttributeValues={":e": {"S": "a"}},
    ) == [("dynamodb:Query", f"{TABLE}/Accounts/index/ByEmail")]


def test_dynamodb_batches_ask_for_every_table_and_transactions_for_each_item():
    assert asked(
        "dynamodb",
        "batch_write_item",
        RequestItems={
            "A": [{"PutRequest": {"Item": {"id": {"S": "1"}}}}],
            "B": [{"DeleteRequest": {"Key": {"id": {"S": "1"}}}}],
        },
    ) == [("dynamodb:BatchWriteItem", f"{TABLE}/A"), ("dynamodb:BatchWriteItem", f"{TABLE}/B")]
    assert asked(
        "dynamodb",
        "transact_write_items",
        TransactItems=[
            {"Put": {"TableName": "A", "Item": {"id": {"S": "1"}}}},
            {
                "Update": {
                    "TableName": "B",
                    "Key": {"id": {"S": "1"}},
                    "UpdateExpression": "SET x = :x",
                    "ExpressionAttributeValues": {":x": {"S": "1"}},
                }
            },
        ],
    ) == [("dynamodb:PutItem", f"{TABLE}/A"), ("dynamodb:UpdateItem", f"{TABLE}/B")]


def test_sqs_batches_are_authorized_as_their_single_form_on_the_queue_of_the_url():
    url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/orders"
    assert asked("sqs", "send_message_batch", QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "x"}]) == [
        ("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders")
    ]
    local = f"http://127.0.0.1:5000/{ACCOUNT}/orders"
    assert asked("sqs", "send_message", QueueUrl=local, MessageBody="x") == [
        ("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders")
    ]


def test_sns_publish_is_on_its_topic():
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts"
    assert asked("sns", "publish", TopicArn=topic, Message="x") == [("sns:Publish", topic)]


def test_ses_sends_are_on_the_identity_of_the_sender_in_both_apis():
    identity = f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/shop@example.com"
    assert asked(
        "ses",
        "send_email",
        Source="Shop <shop@example.com>",
        Destination={"ToAddresses": ["a@example.com"]},
        Message={"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}},
    ) == [("ses:SendEmail", identity)]
    assert asked(
        "sesv2",
        "send_email",
        FromEmailAddress="shop@example.com",
        Destination={"ToAddresses": ["a@example.com"]},
        Content={"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}},
    ) == [("ses:SendEmail", identity)]


@pytest.mark.parametrize(
    "endpoint_url", [None, "http://127.0.0.1:5000"], ids=["virtual-hosted", "path-style"]
)
def test_s3_object_calls_are_on_the_object_and_listing_on_the_bucket(endpoint_url):
    key = "topic=a/date=2026-11-25/1.jsonl"
    assert asked("s3", "put_object", endpoint_url, Bucket="audit", Key=key, Body=b"x") == [
        ("s3:PutObject", f"arn:aws:s3:::audit/{key}")
    ]
    assert asked("s3", "head_object", endpoint_url, Bucket="audit", Key=key) == [
        ("s3:GetObject", f"arn:aws:s3:::audit/{key}")
    ]
    assert asked("s3", "list_objects_v2", endpoint_url, Bucket="audit", Prefix="topic=a/") == [
        ("s3:ListBucket", "arn:aws:s3:::audit")
    ]


def test_put_events_asks_for_each_entrys_bus():
    entry = {"Source": "s", "DetailType": "d", "Detail": "{}"}
    assert asked("events", "put_events", Entries=[{**entry, "EventBusName": "storefront"}, entry]) == [
        ("events:PutEvents", f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/storefront"),
        ("events:PutEvents", f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"),
    ]


def test_a_secret_by_arn_is_that_arn_and_by_name_has_the_six_characters_secrets_manager_appends():
    arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:db-AbCdEf"
    assert asked("secretsmanager", "get_secret_value", SecretId=arn) == [
        ("secretsmanager:GetSecretValue", arn)
    ]
    assert asked("secretsmanager", "get_secret_value", SecretId="db") == [
        ("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:db-??????")
    ]


def test_lambda_invoke_is_invoke_function_on_the_qualified_function():
    assert asked("lambda", "invoke", FunctionName="orders", Qualifier="live") == [
        ("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:orders:live")
    ]


def test_kinesis_is_on_the_stream():
    assert asked("kinesis", "put_record", StreamName="clicks", Data=b"x", PartitionKey="k") == [
        ("kinesis:PutRecord", f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/clicks")
    ]


def test_another_operation_asks_its_action_on_every_resource_and_another_service_is_not_judged():
    assert asked("dynamodb", "list_tables") == [("dynamodb:ListTables", "*")]
    assert asked("logs", "describe_log_groups") is None
