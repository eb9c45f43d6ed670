"""Provisioning a SAM template's data resources on moto's server, checked through boto3 against it."""

from __future__ import annotations

import json
import string
from pathlib import Path

import pytest

from localfaas.backend import MotoBackend
from localfaas.provision import ProvisioningError, provision
from localfaas.template import load_stack

REPO_TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"
ACCOUNT = "210987654321"

SMALL_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: orderId, AttributeType: S}
        - {AttributeName: customerId, AttributeType: S}
      KeySchema:
        - {AttributeName: orderId, KeyType: HASH}
      GlobalSecondaryIndexes:
        - IndexName: byCustomer
          KeySchema: [{AttributeName: customerId, KeyType: HASH}]
          Projection: {ProjectionType: KEYS_ONLY}
      TimeToLiveSpecification: {AttributeName: expiresAt, Enabled: true}
      StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
      SSESpecification: {SSEEnabled: true}
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 45
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt JobsDeadLetters.Arn
        maxReceiveCount: 4
  JobsDeadLetters:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: 1209600
  Alerts:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: Alerts
  AlertsToJobs:
    Type: AWS::SNS::Subscription
    Properties:
      TopicArn: !Ref Alerts
      Protocol: sqs
      Endpoint: !GetAtt Jobs.Arn
      RawMessageDelivery: true
      FilterPolicy: {severity: [high]}
  Archive:
    Type: AWS::S3::Bucket
    Properties:
      VersioningConfiguration: {Status: Enabled}
  Bus:
    Type: AWS::Events::EventBus
    Properties:
      Name: !Sub ${AWS::StackName}-bus
  Sender:
    Type: AWS::SES::EmailIdentity
    Properties:
      EmailIdentity: sender@example.com
  ApiCredentials:
    Type: AWS::SecretsManager::Secret
    Properties:
      GenerateSecretString:
        SecretStringTemplate: '{"username": "svc"}'
        GenerateStringKey: password
        PasswordLength: 24
        ExcludePunctuation: true
"""


@pytest.fixture(scope="module")
def moto():
    with MotoBackend(account_id=ACCOUNT) as backend:
        yield backend


@pytest.fixture
def backend(moto):
    moto.reset()
    return moto


@pytest.fixture
def stack(tmp_path):
    path = tmp_path / "template.yaml"
    path.write_text(SMALL_TEMPLATE)
    return load_stack(path, stack_name="shop", account_id=ACCOUNT)


@pytest.fixture
def provisioned(backend, stack):
    report = provision(stack.resources, stack.physical_names, backend)
    return stack, report


def _queue_attributes(backend, name):
    sqs = backend.client("sqs")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def test_every_resource_of_the_small_template_is_created(provisioned):
    stack, report = provisioned
    assert sorted(entry.split()[1] for entry in report.created) == sorted(stack.resources)
    assert report.existing == report.skipped == report.unsupported == []


def test_table_has_its_key_index_stream_and_ttl(provisioned, backend):
    dynamodb = backend.client("dynamodb")
    table = dynamodb.describe_table(TableName="shop-Orders")["Table"]
    assert table["KeySchema"] == [{"AttributeName": "orderId", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    (index,) = table["GlobalSecondaryIndexes"]
    assert (index["IndexName"], index["Projection"]["ProjectionType"]) == ("byCustomer", "KEYS_ONLY")
    assert index["KeySchema"] == [{"AttributeName": "customerId", "KeyType": "HASH"}]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    ttl = dynamodb.describe_time_to_live(TableName="shop-Orders")["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expiresAt")


def test_queue_redrives_to_its_dead_letter_queue(provisioned, backend):
    jobs = _queue_attributes(backend, "shop-Jobs")
    assert jobs["VisibilityTimeout"] == "45"
    assert json.loads(jobs["RedrivePolicy"]) == {
        "deadLetterTargetArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:shop-JobsDeadLetters",
        "maxReceiveCount": 4,
    }
    assert _queue_attributes(backend, "shop-JobsDeadLetters")["MessageRetentionPeriod"] == "1209600"


def test_topic_delivers_raw_filtered_messages_to_the_subscribed_queue(provisioned, backend):
    stack, _ = provisioned
    sns = backend.client("sns")
    topic_arn = stack.resources["AlertsToJobs"]["Properties"]["TopicArn"]
    assert sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]["DisplayName"] == "Alerts"
    (subscription,) = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert (subscription["Protocol"], subscription["Endpoint"]) == (
        "sqs",
        f"arn:aws:sqs:us-east-1:{ACCOUNT}:shop-Jobs",
    )
    attributes = sns.get_subscription_attributes(SubscriptionArn=subscription["SubscriptionArn"])[
        "Attributes"
    ]
    assert attributes["RawMessageDelivery"] == "true"
    assert json.loads(attributes["FilterPolicy"]) == {"severity": ["high"]}


def test_bucket_is_versioned(provisioned, backend):
    name = provisioned[0].physical_names["Archive"]
    assert name == "shop-archive"  # S3 names are lower case
    assert backend.client("s3").get_bucket_versioning(Bucket=name)["Status"] == "Enabled"


def test_event_bus_takes_its_name_from_the_template(provisioned, backend):
    bus = backend.client("events").describe_event_bus(Name="shop-bus")
    assert bus["Arn"] == f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/shop-bus"


def test_email_identity_is_verified(provisioned, backend):
    assert "sender@example.com" in backend.client("ses").list_identities()["Identities"]


def test_generated_secret_follows_its_template_and_password_rules(provisioned, backend):
    value = backend.client("secretsmanager").get_secret_value(SecretId="shop-ApiCredentials")["SecretString"]
    secret = json.loads(value)
    assert secret["username"] == "svc"
    assert len(secret["password"]) == 24
    assert not set(secret["password"]) & set(string.punctuation)


def test_provisioning_again_changes_nothing(provisioned, backend):
    stack, first = provisioned
    secrets = backend.client("secretsmanager")
    before = secrets.get_secret_value(SecretId="shop-ApiCredentials")["SecretString"]

    again = provision(stack.resources, stack.physical_names, backend.client)

    assert again.created == []
    assert sorted(again.existing) == sorted(first.created)
    assert secrets.get_secret_value(SecretId="shop-ApiCredentials")["SecretString"] == before
    topic_arn = stack.resources["AlertsToJobs"]["Properties"]["TopicArn"]
    assert len(backend.client("sns").list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]) == 1


def test_a_rejected_resource_fails_with_awss_error_code(backend):
    resources = {
        "Broken": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "missing", "KeyType": "HASH"}],
            },
        }
    }
    with pytest.raises(ProvisioningError, match="Broken: ValidationException") as raised:
        provision(resources, {"Broken": "broken"}, backend)
    assert raised.value.code == "ValidationException"


def test_unknown_types_are_reported_not_created(backend):
    resources = {"Delivery": {"Type": "AWS::KinesisFirehose::DeliveryStream", "Properties": {}}}
    report = provision(resources, {"Delivery": "d"}, backend)
    assert report.unsupported == ["AWS::KinesisFirehose::DeliveryStream Delivery"]
    assert report.created == []


def test_a_kinesis_stream_is_created_with_its_shards_and_retention(backend):
    resources = {
        "Stream": {
            "Type": "AWS::Kinesis::Stream",
            "Properties": {"ShardCount": 2, "RetentionPeriodHours": 48},
        }
    }
    report = provision(resources, {"Stream": "shipments"}, backend)
    summary = backend.client("kinesis").describe_stream_summary(StreamName="shipments")[
        "StreamDescriptionSummary"
    ]
    assert report.created == ["AWS::Kinesis::Stream Stream -> shipments"]
    assert (summary["OpenShardCount"], summary["RetentionPeriodHours"]) == (2, 48)
    assert provision(resources, {"Stream": "shipments"}, backend).existing == [
        "AWS::Kinesis::Stream Stream -> shipments"
    ]


def test_repo_template_resources_are_each_created_or_skipped_with_a_reason(backend):
    stack = load_stack(
        REPO_TEMPLATE,
        {"SecurityTeamEmail": "security@example.com"},
        stack_name="storefront",
        account_id=ACCOUNT,
    )
    report = provision(stack.resources, stack.physical_names, backend)

    assert report.unsupported == []
    accounted = {entry.split()[1].rstrip(":") for entry in report.created + report.skipped}
    assert accounted == set(stack.resources)
    created_types = {entry.split()[0] for entry in report.created}
    data_types = {
        r["Type"] for r in stack.resources.values() if not r["Type"].startswith(("AWS::Lambda", "AWS::IAM"))
    }
    network_and_databases = {t for t in data_types if t.startswith(("AWS::EC2::", "AWS::RDS::"))}
    run_or_not_enforced = {"AWS::Events::Rule", "AWS::Events::Archive", "AWS::S3::BucketPolicy"}
    # The front door's HTTP API is served by localfaas.api_gateway; function logs go to its output.
    served_locally = {"AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::Stage", "AWS::Logs::LogGroup"}
    assert data_types - created_types <= run_or_not_enforced | served_locally | network_and_databases


def test_repo_template_tables_and_queue_policy_exist_on_the_backend(backend):
    stack = load_stack(REPO_TEMPLATE, stack_name="storefront", account_id=ACCOUNT)
    provision(stack.resources, stack.physical_names, backend)

    tables = set(backend.client("dynamodb").list_tables()["TableNames"])
    expected = {stack.physical_names[r.logical_id] for r in stack.resources_of_type("AWS::DynamoDB::Table")}
    assert expected <= tables
    failed_events = _queue_attributes(backend, stack.physical_names["FailedEventsQueue"])
    (statement,) = json.loads(failed_events["Policy"])["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
