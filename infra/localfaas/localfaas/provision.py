"""Provisioning: create a stack's data resources on a backend (moto, LocalStack or AWS).

Covers what Lambda functions talk to: DynamoDB tables (keys, indexes, TTL, streams), SQS queues
(dead-letter queues first, redrive), SNS topics and subscriptions, S3 buckets (versioning),
EventBridge buses, SES email identities and Secrets Manager secrets. IAM, Lambda and the
event wiring itself are not provisioned: localfaas runs those. Creating what exists already is
not an error, so provisioning can be repeated against a long-lived backend.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

ALREADY_EXISTS = {
    "ResourceInUseException",  # DynamoDB
    "QueueAlreadyExists",
    "BucketAlreadyOwnedByYou",
    "BucketAlreadyExists",
    "ResourceAlreadyExistsException",  # EventBridge, Secrets Manager
    "ResourceExistsException",
}


@dataclass
class ProvisionReport:
    created: list[str] = field(default_factory=list)  # "Type LogicalId -> physical name"
    skipped: list[str] = field(default_factory=list)  # types localfaas does not provision


def provision(
    resources: dict[str, dict[str, Any]], physical_names: dict[str, str], client
) -> ProvisionReport:
    """Create every supported resource. `client(service)` returns a boto3 client for the backend."""
    report = ProvisionReport()
    for logical_id, resource in _in_creation_order(resources):
        kind = resource["Type"]
        create = _CREATORS.get(kind)
        if create is None:
            report.skipped.append(f"{kind} {logical_id}")
            continue
        properties = resource.get("Properties", {})
        name = physical_names.get(logical_id, logical_id)
        try:
            create(client, name, properties)
        except ClientError as error:
            if error.response["Error"]["Code"] not in ALREADY_EXISTS:
                raise ProvisioningError(logical_id, kind, error) from error
        report.created.append(f"{kind} {logical_id} -> {name}")
    return report


class ProvisioningError(RuntimeError):
    def __init__(self, logical_id: str, kind: str, error: ClientError) -> None:
        message = error.response["Error"].get("Message", str(error))
        super().__init__(f"could not create {kind} {logical_id}: {message}")


def _in_creation_order(resources: dict[str, dict[str, Any]]) -> Iterable[tuple[str, dict[str, Any]]]:
    # Dead-letter queues before the queues that redrive to them, topics before subscriptions.
    def rank(item: tuple[str, dict[str, Any]]) -> int:
        kind, props = item[1]["Type"], item[1].get("Properties", {})
        if kind == "AWS::SQS::Queue":
            return 1 if "RedrivePolicy" in props else 0
        return {"AWS::SNS::Subscription": 3, "AWS::SQS::QueuePolicy": 4}.get(kind, 2)

    return sorted(resources.items(), key=rank)


def _table(client, name: str, props: dict[str, Any]) -> None:
    dynamodb = client("dynamodb")
    request: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if request["BillingMode"] == "PROVISIONED":
        request["ProvisionedThroughput"] = props.get(
            "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        )
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification"):
        if key in props:
            request[key] = props[key]
    if "StreamSpecification" in request:
        request["StreamSpecification"] = {"StreamEnabled": True, **request["StreamSpecification"]}
    dynamodb.create_table(**request)
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        dynamodb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True}
        )


_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "FifoQueue",
    "ContentBasedDeduplication",
    "SqsManagedSseEnabled",
)


def _queue(client, name: str, props: dict[str, Any]) -> None:
    attributes = {key: _attribute(props[key]) for key in _QUEUE_ATTRIBUTES if key in props}
    for key in ("RedrivePolicy", "RedriveAllowPolicy"):
        if key in props:
            attributes[key] = props[key] if isinstance(props[key], str) else json.dumps(props[key])
    client("sqs").create_queue(QueueName=name, Attributes=attributes)


def _attribute(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _topic(client, name: str, props: dict[str, Any]) -> None:
    attributes = {"DisplayName": props["DisplayName"]} if "DisplayName" in props else {}
    if props.get("FifoTopic"):
        attributes["FifoTopic"] = "true"
    topic_arn = client("sns").create_topic(Name=name, Attributes=attributes)["TopicArn"]
    for subscription in props.get("Subscription", []):
        _subscribe(client, topic_arn, subscription)


def _subscription(client, name: str, props: dict[str, Any]) -> None:
    _subscribe(client, props["TopicArn"], props)


def _subscribe(client, topic_arn: str, props: dict[str, Any]) -> None:
    attributes = {}
    if "FilterPolicy" in props:
        attributes["FilterPolicy"] = json.dumps(props["FilterPolicy"])
    if props.get("RawMessageDelivery"):
        attributes["RawMessageDelivery"] = "true"
    client("sns").subscribe(
        TopicArn=topic_arn, Protocol=props["Protocol"], Endpoint=props["Endpoint"], Attributes=attributes
    )


def _bucket(client, name: str, props: dict[str, Any]) -> None:
    s3 = client("s3")
    region = s3.meta.region_name
    if region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    versioning = props.get("VersioningConfiguration", {}).get("Status")
    if versioning:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning})


def _event_bus(client, name: str, props: dict[str, Any]) -> None:
    client("events").create_event_bus(Name=name)


def _email_identity(client, name: str, props: dict[str, Any]) -> None:
    identity = props["EmailIdentity"]
    if "@" in identity:
        client("ses").verify_email_identity(EmailAddress=identity)
    else:
        client("ses").verify_domain_identity(Domain=identity)


def _secret(client, name: str, props: dict[str, Any]) -> None:
    value = props.get("SecretString")
    if value is None:
        generate = props.get("GenerateSecretString", {})
        password = client("secretsmanager").get_random_password(
            PasswordLength=generate.get("PasswordLength", 32),
            ExcludeCharacters=generate.get("ExcludeCharacters", ""),
            ExcludePunctuation=generate.get("ExcludePunctuation", False),
        )["RandomPassword"]
        template = generate.get("SecretStringTemplate")
        key = generate.get("GenerateStringKey")
        value = json.dumps({**json.loads(template), key: password}) if template and key else password
    client("secretsmanager").create_secret(Name=name, SecretString=value)


_CREATORS: dict[str, Callable[[Any, str, dict[str, Any]], None]] = {
    "AWS::DynamoDB::Table": _table,
    "AWS::SQS::Queue": _queue,
    "AWS::SNS::Topic": _topic,
    "AWS::SNS::Subscription": _subscription,
    "AWS::S3::Bucket": _bucket,
    "AWS::Events::EventBus": _event_bus,
    "AWS::SES::EmailIdentity": _email_identity,
    "AWS::SecretsManager::Secret": _secret,
}
