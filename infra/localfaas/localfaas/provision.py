"""Provisioning: create a stack's data resources on a backend (moto, LocalStack or AWS).

Covers what Lambda functions talk to: DynamoDB tables (keys, indexes, TTL, streams, SSE, point-in-time
recovery), SQS queues (dead-letter queues first, redrive, queue policies), SNS topics and
subscriptions, Kinesis data streams, S3 buckets (versioning, encryption, public access block), EventBridge buses, SES email
identities, Secrets Manager secrets (GenerateSecretString included) and SSM parameters. Each resource
is created from its resolved CloudFormation properties, mapped onto the service's API.

Not provisioned, on purpose (listed in the report with the reason): what localfaas runs itself
(Lambda functions, event source mappings, EventBridge rules and archives), IAM roles and policies
(read from the template as execution roles, localfaas.role_enforcement), and resource-based
policies, which local backends do not enforce. Anything else is reported as unsupported.

A resource that exists already is left as it is, so provisioning can be repeated against a long-lived
backend; it does not update a resource whose template changed (delete it or reset the backend).

Past 400 lines because it holds one short provisioner per resource type (tables, queues, topics,
buckets, buses, streams, identities) behind one dispatch table; each reads alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError, ParamValidationError

__all__ = ["SKIPPED", "ProvisionReport", "ProvisioningError", "provision"]

Clients = Callable[[str], Any]  # service name -> boto3 client
Props = dict[str, Any]

_RUN_BY_LOCALFAAS = "run by localfaas, not provisioned"
_SERVED_BY_API_GATEWAY = "served by localfaas's API Gateway (start-api, up), not provisioned"
_NOT_ENFORCED = "resource-based policies are not enforced locally"
_READ_AS_ROLES = (
    "read from the template as the functions' execution roles (localfaas.execution_roles), not provisioned"
)
_NO_VPC = "functions run on this machine's network; VPCs and security groups are not emulated"
_NO_DATABASE = "databases are not provisioned; give the function one with an environment override"
SKIPPED: dict[str, str] = {
    "AWS::Lambda::Function": _RUN_BY_LOCALFAAS,
    "AWS::Lambda::Version": _RUN_BY_LOCALFAAS,
    "AWS::Lambda::Alias": _RUN_BY_LOCALFAAS,
    "AWS::Lambda::LayerVersion": "layers are put on the function's import path by localfaas",
    "AWS::Lambda::EventSourceMapping": _RUN_BY_LOCALFAAS,
    "AWS::Lambda::EventInvokeConfig": _RUN_BY_LOCALFAAS,
    "AWS::Lambda::Url": _RUN_BY_LOCALFAAS,
    # issue 12: served by localfaas.api_gateway (start-api, up) from the OpenAPI body SAM generates.
    "AWS::ApiGateway::RestApi": _SERVED_BY_API_GATEWAY,
    "AWS::ApiGateway::Deployment": _SERVED_BY_API_GATEWAY,
    "AWS::ApiGateway::Stage": _SERVED_BY_API_GATEWAY,
    "AWS::ApiGatewayV2::Api": _SERVED_BY_API_GATEWAY,
    "AWS::ApiGatewayV2::Stage": _SERVED_BY_API_GATEWAY,
    "AWS::Events::Rule": "rules are matched and delivered by localfaas's bus (schedule rules: localfaas.schedules)",
    "AWS::Scheduler::Schedule": "schedules are fired by localfaas.schedules",
    "AWS::Scheduler::ScheduleGroup": "schedule groups are names in localfaas.schedules",
    "AWS::Events::Archive": "archives are kept by localfaas's bus",
    "AWS::Lambda::Permission": _NOT_ENFORCED,
    "AWS::Lambda::LayerVersionPermission": _NOT_ENFORCED,
    "AWS::IAM::Role": _READ_AS_ROLES,
    "AWS::IAM::Policy": _READ_AS_ROLES,
    "AWS::IAM::ManagedPolicy": _READ_AS_ROLES,
    "AWS::SNS::TopicPolicy": _NOT_ENFORCED,
    "AWS::S3::BucketPolicy": _NOT_ENFORCED,
    "AWS::Events::EventBusPolicy": _NOT_ENFORCED,
    "AWS::Logs::LogGroup": "function logs go to localfaas's output",
    "AWS::KMS::Key": "encryption keys are not emulated; encryption settings are passed as given",
    "AWS::KMS::Alias": "encryption keys are not emulated; encryption settings are passed as given",
    "AWS::EC2::SecurityGroup": _NO_VPC,
    "AWS::EC2::SecurityGroupIngress": _NO_VPC,
    "AWS::EC2::SecurityGroupEgress": _NO_VPC,
    "AWS::RDS::DBCluster": _NO_DATABASE,
    "AWS::RDS::DBInstance": _NO_DATABASE,
    "AWS::RDS::DBSubnetGroup": _NO_DATABASE,
}


@dataclass
class ProvisionReport:
    """What a provisioning pass did; each entry reads "Type LogicalId -> physical name"."""

    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)  # found in place and left as they are
    skipped: list[str] = field(default_factory=list)  # "Type LogicalId: reason", see SKIPPED
    unsupported: list[str] = field(default_factory=list)  # types localfaas knows nothing about

    def __str__(self) -> str:
        return (
            f"{len(self.created)} created, {len(self.existing)} already there, "
            f"{len(self.skipped)} run or ignored by localfaas, {len(self.unsupported)} unsupported"
        )


class ProvisioningError(RuntimeError):
    """The backend refused a resource; `code` is AWS's error code (ValidationError for bad parameters)."""

    def __init__(self, logical_id: str, kind: str, error: ClientError | ParamValidationError) -> None:
        if isinstance(error, ClientError):
            self.code = error.response["Error"].get("Code", "")
            message = error.response["Error"].get("Message", str(error))
        else:  # botocore refused the request before sending it: the properties do not fit the API
            self.code, message = "ValidationError", str(error)
        super().__init__(f"could not create {kind} {logical_id}: {self.code}: {message}")


def provision(
    resources: dict[str, dict[str, Any]], physical_names: dict[str, str], client: Any
) -> ProvisionReport:
    """Create every supported resource that does not exist yet.

    `client` is a backend (anything with a `client(service)` method) or a function `client(service)`
    that returns a boto3 client for the backend.
    """
    clients: Clients = getattr(client, "client", client)
    report = ProvisionReport()
    for logical_id, resource in _in_creation_order(resources):
        kind = resource["Type"]
        create = _CREATORS.get(kind)
        if create is None:
            if kind in SKIPPED:
                report.skipped.append(f"{kind} {logical_id}: {SKIPPED[kind]}")
            else:
                report.unsupported.append(f"{kind} {logical_id}")
            continue
        name = physical_names.get(logical_id, logical_id)
        try:
            created = create(clients, name, resource.get("Properties") or {})
        except (ClientError, ParamValidationError) as error:
            raise ProvisioningError(logical_id, kind, error) from error
        (report.created if created else report.existing).append(f"{kind} {logical_id} -> {name}")
    return report


def _in_creation_order(resources: dict[str, dict[str, Any]]) -> Iterable[tuple[str, dict[str, Any]]]:
    # Dead-letter queues before the queues that redrive to them, topics and queues before the
    # subscriptions and policies that name them.
    def rank(item: tuple[str, dict[str, Any]]) -> int:
        kind, props = item[1]["Type"], item[1].get("Properties") or {}
        if kind == "AWS::SQS::Queue":
            return 1 if "RedrivePolicy" in props else 0
        return {"AWS::SNS::Subscription": 3, "AWS::SQS::QueuePolicy": 4}.get(kind, 2)

    return sorted(resources.items(), key=rank)


def _code(error: ClientError) -> str:
    return error.response["Error"].get("Code", "")


def _exists(probe: Callable[[], Any], *not_found: str) -> bool:
    """True when `probe()` succeeds, False when it fails with one of the not-found codes."""
    try:
        probe()
    except ClientError as error:
        if _code(error) in not_found:
            return False
        raise
    return True


def _tags(props: Props) -> list[dict[str, str]]:
    return [{"Key": str(t["Key"]), "Value": str(t["Value"])} for t in props.get("Tags") or []]


# ---- DynamoDB ----------------------------------------------------------------------------------------

_INDEX_KEYS = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput", "OnDemandThroughput")


def _table(clients: Clients, name: str, props: Props) -> bool:
    """AWS::DynamoDB::Table -> CreateTable, then UpdateTimeToLive and UpdateContinuousBackups."""
    dynamodb = clients("dynamodb")
    if _exists(lambda: dynamodb.describe_table(TableName=name), "ResourceNotFoundException"):
        return False
    dynamodb.create_table(**_create_table_request(name, props))
    ttl = props.get("TimeToLiveSpecification") or {}
    pitr = props.get("PointInTimeRecoverySpecification") or {}
    if ttl.get("Enabled") or pitr.get("PointInTimeRecoveryEnabled"):
        # Real DynamoDB and LocalStack create tables asynchronously; TTL needs an ACTIVE table.
        dynamodb.get_waiter("table_exists").wait(
            TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
        )
    if ttl.get("Enabled"):
        dynamodb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True}
        )
    if pitr.get("PointInTimeRecoveryEnabled"):
        dynamodb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    return True


def _create_table_request(name: str, props: Props) -> dict[str, Any]:
    billing = props.get("BillingMode", "PROVISIONED")
    request: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": billing,
    }
    if billing == "PROVISIONED":
        request["ProvisionedThroughput"] = props.get(
            "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        )
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(key):
            # CloudFormation allows keys in an index (ContributorInsightsSpecification) the API does not.
            request[key] = [{k: v for k, v in index.items() if k in _INDEX_KEYS} for index in props[key]]
    if "StreamSpecification" in props:
        request["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    sse = props.get("SSESpecification")
    if sse and sse.get("SSEEnabled"):
        request["SSESpecification"] = {"Enabled": True} | {
            k: sse[k] for k in ("SSEType", "KMSMasterKeyId") if k in sse
        }
    for key in ("TableClass", "DeletionProtectionEnabled"):
        if key in props:
            request[key] = props[key]
    if _tags(props):
        request["Tags"] = _tags(props)
    return request


# ---- SQS ---------------------------------------------------------------------------------------------

_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
)


def _queue(clients: Clients, name: str, props: Props) -> bool:
    """AWS::SQS::Queue -> CreateQueue with its attributes; JSON policies go as JSON strings."""
    sqs = clients("sqs")
    if _exists(
        lambda: sqs.get_queue_url(QueueName=name),
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
    ):
        return False
    attributes = {key: _attribute(props[key]) for key in _QUEUE_ATTRIBUTES if key in props}
    for key in ("RedrivePolicy", "RedriveAllowPolicy"):
        if key in props:
            attributes[key] = _json_text(props[key])
    request: dict[str, Any] = {"QueueName": name, "Attributes": attributes}
    if _tags(props):
        request["tags"] = {t["Key"]: t["Value"] for t in _tags(props)}
    sqs.create_queue(**request)
    return True


def _queue_policy(clients: Clients, name: str, props: Props) -> bool:
    """AWS::SQS::QueuePolicy -> SetQueueAttributes(Policy) on each queue it names (by URL)."""
    sqs = clients("sqs")
    policy = _json_text(props["PolicyDocument"])
    changed = False
    for queue in props.get("Queues") or []:
        # The template's URL may carry another host (AWS's); the backend knows the queue by name.
        url = sqs.get_queue_url(QueueName=str(queue).rstrip("/").rsplit("/", 1)[-1])["QueueUrl"]
        current = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get("Attributes", {})
        if current.get("Policy") and json.loads(current["Policy"]) == json.loads(policy):
            continue
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
        changed = True
    return changed


def _attribute(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


# ---- SNS ---------------------------------------------------------------------------------------------


def _topic(clients: Clients, name: str, props: Props) -> bool:
    """AWS::SNS::Topic -> CreateTopic, then Subscribe for each inline Subscription."""
    sns = clients("sns")
    if _topic_arn(sns, name) is not None:
        return False
    attributes = {key: str(props[key]) for key in ("DisplayName", "KmsMasterKeyId") if key in props}
    for key in ("FifoTopic", "ContentBasedDeduplication"):
        if props.get(key):
            attributes[key] = "true"
    request: dict[str, Any] = {"Name": name, "Attributes": attributes}
    if _tags(props):
        request["Tags"] = _tags(props)
    topic_arn = sns.create_topic(**request)["TopicArn"]
    for subscription in props.get("Subscription") or []:
        if not _delivered_by_localfaas(subscription):
            _subscribe(sns, topic_arn, subscription)
    return True


def _delivered_by_localfaas(subscription: Props) -> bool:
    return str(subscription.get("Protocol", "")).lower() == "lambda"


def _topic_arn(sns: Any, name: str) -> str | None:
    for page in sns.get_paginator("list_topics").paginate():
        for topic in page.get("Topics", []):
            if topic["TopicArn"].rsplit(":", 1)[-1] == name:
                return topic["TopicArn"]
    return None


def _subscription(clients: Clients, name: str, props: Props) -> bool:
    """AWS::SNS::Subscription -> Subscribe, unless the topic has that protocol and endpoint already.
    A lambda endpoint is localfaas's to deliver to (localfaas.sns_source): subscribed in the backend,
    the backend would invoke its own Lambda, which has no such function, and fail the publish."""
    if _delivered_by_localfaas(props):
        return False
    sns = clients("sns")
    topic_arn = props["TopicArn"]
    for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
        for existing in page.get("Subscriptions", []):
            if (existing["Protocol"], existing["Endpoint"]) == (props["Protocol"], props["Endpoint"]):
                return False
    _subscribe(sns, topic_arn, props)
    return True


def _subscribe(sns: Any, topic_arn: str, props: Props) -> None:
    attributes = {}
    for key in ("FilterPolicy", "RedrivePolicy"):
        if key in props:
            attributes[key] = _json_text(props[key])
    if "FilterPolicyScope" in props:
        attributes["FilterPolicyScope"] = props["FilterPolicyScope"]
    if props.get("RawMessageDelivery"):
        attributes["RawMessageDelivery"] = "true"
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol=props["Protocol"],
        Endpoint=props["Endpoint"],
        Attributes=attributes,
        ReturnSubscriptionArn=True,
    )


# ---- S3 ----------------------------------------------------------------------------------------------


def _bucket(clients: Clients, name: str, props: Props) -> bool:
    """AWS::S3::Bucket -> CreateBucket, then versioning, default encryption, public access block, tags.

    Not applied: notifications (localfaas does not run S3 triggers), lifecycle, CORS, website, and
    server access logging (nothing writes access logs locally, and S3 refuses a logging target whose
    bucket policy does not admit the logging service, a policy localfaas does not provision).
    """
    s3 = clients("s3")
    if _exists(lambda: s3.head_bucket(Bucket=name), "404", "NoSuchBucket", "NotFound"):
        return False
    region = s3.meta.region_name
    if region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    versioning = (props.get("VersioningConfiguration") or {}).get("Status")
    if versioning:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning})
    rules = (props.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration")
    if rules:
        s3.put_bucket_encryption(
            Bucket=name, ServerSideEncryptionConfiguration={"Rules": _encryption_rules(rules)}
        )
    if props.get("PublicAccessBlockConfiguration"):
        s3.put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
        )
    if _tags(props):
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": _tags(props)})
    return True


def _encryption_rules(rules: list[Props]) -> list[Props]:
    # CloudFormation's ServerSideEncryptionByDefault is the API's ApplyServerSideEncryptionByDefault.
    return [
        {
            ("ApplyServerSideEncryptionByDefault" if k == "ServerSideEncryptionByDefault" else k): v
            for k, v in rule.items()
        }
        for rule in rules
    ]


# ---- EventBridge, SES, Secrets Manager, SSM ----------------------------------------------------------


def _event_bus(clients: Clients, name: str, props: Props) -> bool:
    """AWS::Events::EventBus -> CreateEventBus (rules and delivery are localfaas's own bus)."""
    events = clients("events")
    if _exists(lambda: events.describe_event_bus(Name=name), "ResourceNotFoundException"):
        return False
    request: dict[str, Any] = {"Name": name}
    if props.get("Description"):
        request["Description"] = props["Description"]
    if _tags(props):
        request["Tags"] = _tags(props)
    events.create_event_bus(**request)
    return True


def _email_identity(clients: Clients, name: str, props: Props) -> bool:
    """AWS::SES::EmailIdentity -> VerifyEmailIdentity (an address) or VerifyDomainIdentity (a domain).

    Local backends treat the identity as verified at once; on AWS an address gets a verification email.
    Whether it exists is ListIdentities' answer ("all of the identities ... regardless of verification
    status", https://docs.aws.amazon.com/ses/latest/APIReference/API_ListIdentities.html), not
    GetIdentityVerificationAttributes', which LocalStack answers Success for any identity, never created.
    """
    ses = clients("ses")
    identity = props["EmailIdentity"]
    pages = ses.get_paginator("list_identities").paginate()
    if any(identity in page["Identities"] for page in pages):
        return False
    if "@" in identity:
        ses.verify_email_identity(EmailAddress=identity)
    else:
        ses.verify_domain_identity(Domain=identity)
    return True


_PASSWORD_OPTIONS = (
    "PasswordLength",
    "ExcludeCharacters",
    "ExcludeNumbers",
    "ExcludePunctuation",
    "ExcludeUppercase",
    "ExcludeLowercase",
    "IncludeSpace",
    "RequireEachIncludedType",
)


def _secret(clients: Clients, name: str, props: Props) -> bool:
    """AWS::SecretsManager::Secret -> CreateSecret; GenerateSecretString goes through GetRandomPassword.

    As CloudFormation does, a generated password is put under GenerateStringKey in the JSON of
    SecretStringTemplate when both are given, else it is the whole secret string:
    https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-secretsmanager-secret-generatesecretstring.html
    """
    secrets = clients("secretsmanager")
    if _exists(lambda: secrets.describe_secret(SecretId=name), "ResourceNotFoundException"):
        return False
    value = props.get("SecretString")
    if value is None:
        generate = props.get("GenerateSecretString") or {}
        options = {key: generate[key] for key in _PASSWORD_OPTIONS if key in generate}
        password = secrets.get_random_password(**options)["RandomPassword"]
        template, key = generate.get("SecretStringTemplate"), generate.get("GenerateStringKey")
        value = json.dumps({**json.loads(template), key: password}) if template and key else password
    request: dict[str, Any] = {"Name": name, "SecretString": value}
    if props.get("Description"):
        request["Description"] = props["Description"]
    if _tags(props):
        request["Tags"] = _tags(props)
    secrets.create_secret(**request)
    return True


def _parameter(clients: Clients, name: str, props: Props) -> bool:
    """AWS::SSM::Parameter -> PutParameter (String or StringList; CloudFormation cannot make SecureString)."""
    ssm = clients("ssm")
    if _exists(lambda: ssm.get_parameter(Name=name), "ParameterNotFound"):
        return False
    request = {"Name": name, "Value": str(props["Value"]), "Type": props.get("Type", "String")}
    for key in ("Description", "AllowedPattern", "Tier", "DataType"):
        if key in props:
            request[key] = props[key]
    ssm.put_parameter(**request)
    return True


# ---- Kinesis -----------------------------------------------------------------------------------------


def _kinesis_stream(clients: Clients, name: str, props: Props) -> bool:
    """AWS::Kinesis::Stream -> CreateStream (ShardCount, or on-demand StreamModeDetails), then
    IncreaseStreamRetentionPeriod; real Kinesis and LocalStack create streams asynchronously."""
    kinesis = clients("kinesis")
    if _exists(lambda: kinesis.describe_stream_summary(StreamName=name), "ResourceNotFoundException"):
        return False
    request: dict[str, Any] = {"StreamName": name}
    mode = (props.get("StreamModeDetails") or {}).get("StreamMode", "PROVISIONED")
    if mode == "ON_DEMAND":
        request["StreamModeDetails"] = {"StreamMode": "ON_DEMAND"}
    else:
        request["ShardCount"] = int(props.get("ShardCount", 1))
    kinesis.create_stream(**request)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    retention = props.get("RetentionPeriodHours")
    if retention and int(retention) > 24:
        kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=int(retention))
    return True


_CREATORS: dict[str, Callable[[Clients, str, Props], bool]] = {
    "AWS::Kinesis::Stream": _kinesis_stream,
    "AWS::DynamoDB::Table": _table,
    "AWS::SQS::Queue": _queue,
    "AWS::SQS::QueuePolicy": _queue_policy,
    "AWS::SNS::Topic": _topic,
    "AWS::SNS::Subscription": _subscription,
    "AWS::S3::Bucket": _bucket,
    "AWS::Events::EventBus": _event_bus,
    "AWS::SES::EmailIdentity": _email_identity,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::SSM::Parameter": _parameter,
}
