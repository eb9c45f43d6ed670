"""What CloudFormation returns for `Ref` and `Fn::GetAtt` of each resource type, and physical names.

A resource's physical name is its own name property (TableName, QueueName, ...) or, when the template
leaves it out, a deterministic `{stack}-{LogicalId}` (CloudFormation would add a random suffix; a local
emulator wants names that stay the same from run to run). Return values follow each type's
"Return values" section in the CloudFormation resource reference:
https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-template-resource-type-ref.html
Types not listed here still get a `Ref` (their physical name); their `Fn::GetAtt` is refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Prop = Callable[[str], Any]  # resolves one property of the resource, None when absent


@dataclass(frozen=True)
class Place:
    """Where the stack lives: what pseudo parameters and ARNs are made of."""

    region: str
    account_id: str
    stack_name: str
    partition: str = "aws"
    url_suffix: str = "amazonaws.com"
    endpoint_url: str | None = None

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (
            f"arn:{self.partition}:{service}:{self.region if region else ''}:"
            f"{self.account_id if account else ''}:{resource}"
        )

    def unique_id(self, logical_id: str) -> str:
        # Stable across runs, distinct across stacks: what a UUID-shaped physical id stands in for.
        return str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"localfaas:{self.account_id}:{self.stack_name}:{logical_id}")
        )


@dataclass(frozen=True)
class Identity:
    """One resource as `Ref`/`Fn::GetAtt` see it."""

    logical_id: str
    type: str
    name: str
    prop: Prop
    place: Place


@dataclass(frozen=True)
class TypeInfo:
    name_property: str | None = None
    ref: Callable[[Identity], Any] = field(default=lambda r: r.name)
    attributes: dict[str, Callable[[Identity], Any]] = field(default_factory=dict)
    lower_case: bool = False
    suffix: Callable[[Prop], str] = field(default=lambda prop: "")


def _queue_url(r: Identity) -> str:
    p = r.place
    if p.endpoint_url:
        return f"{p.endpoint_url.rstrip('/')}/{p.account_id}/{r.name}"
    return f"https://sqs.{p.region}.{p.url_suffix}/{p.account_id}/{r.name}"


def _function_arn(r: Identity, function: Any) -> str:
    function = str(function)
    return function if function.startswith("arn:") else r.place.arn("lambda", f"function:{function}")


def _rule_arn(r: Identity) -> str:
    bus = r.prop("EventBusName")
    bus = str(bus).rsplit("/", 1)[-1] if bus else "default"
    resource = f"rule/{r.name}" if bus == "default" else f"rule/{bus}/{r.name}"
    return r.place.arn("events", resource)


def _rule_ref(r: Identity) -> str:
    # Ref of a rule on a custom bus is "bus|rule" (AWS::Events::Rule, Return values).
    bus = r.prop("EventBusName")
    bus = str(bus).rsplit("/", 1)[-1] if bus else "default"
    return r.name if bus == "default" else f"{bus}|{r.name}"


def _fifo(prop: Prop) -> str:
    return ".fifo" if str(prop("FifoQueue") or prop("FifoTopic") or "").lower() == "true" else ""


def _arn_of(
    service: str, prefix: str, *, region: bool = True, account: bool = True
) -> Callable[[Identity], str]:
    return lambda r: r.place.arn(service, f"{prefix}{r.name}", region=region, account=account)


def _with_id(service: str, prefix: str) -> Callable[[Identity], str]:
    return lambda r: r.place.arn(service, f"{prefix}{r.name}/{r.place.unique_id(r.logical_id)}")


_lambda_arn = _arn_of("lambda", "function:")
_queue_arn = _arn_of("sqs", "")
_topic_arn = _arn_of("sns", "")
_table_arn = _arn_of("dynamodb", "table/")
_bus_arn = _arn_of("events", "event-bus/")
_msk_arn = _with_id("kafka", "cluster/")


def _secret_arn(r: Identity) -> str:
    # Secrets Manager appends six random characters to a secret's name in its ARN.
    return r.place.arn("secretsmanager", f"secret:{r.name}-{r.place.unique_id(r.logical_id)[:6]}")


_state_machine_arn = _arn_of("states", "stateMachine:")


def _role_arn(r: Identity) -> str:
    return r.place.arn("iam", f"role{r.prop('Path') or '/'}{r.name}", region=False)


def _stream_arn(r: Identity) -> str:
    # A table has a stream only when StreamSpecification is set; the label is fixed so it is stable.
    return f"{_table_arn(r)}/stream/1970-01-01T00:00:00.000"


def _db_cluster_endpoint(kind: str) -> Callable[[Identity], str]:
    # <id>.cluster-<random>.<region>.rds.<suffix>; the random part stands in for the account's own.
    return lambda r: (
        f"{r.name}.{kind}-{r.place.unique_id('rds').replace('-', '')[:12]}.{r.place.region}.rds.{r.place.url_suffix}"
    )


def _db_cluster_port(r: Identity) -> str:
    engine = str(r.prop("Engine") or "")
    return str(r.prop("Port") or (5432 if "postgres" in engine else 3306))


def _db_cluster_secret_arn(r: Identity) -> str:
    # The secret RDS creates for ManageMasterUserPassword is named rds!cluster-<uuid>.
    return r.place.arn("secretsmanager", f"secret:rds!cluster-{r.place.unique_id(r.logical_id)}-AbCdEf")


TYPES: dict[str, TypeInfo] = {
    "AWS::Lambda::Function": TypeInfo("FunctionName", attributes={"Arn": _lambda_arn}),
    "AWS::Lambda::Version": TypeInfo(
        ref=lambda r: f"{_function_arn(r, r.prop('FunctionName'))}:1",
        attributes={
            "Version": lambda r: "1",
            "FunctionArn": lambda r: _function_arn(r, r.prop("FunctionName")),
        },
    ),
    "AWS::Lambda::Alias": TypeInfo(
        "Name",
        ref=lambda r: f"{_function_arn(r, r.prop('FunctionName'))}:{r.name}",
        attributes={"AliasArn": lambda r: f"{_function_arn(r, r.prop('FunctionName'))}:{r.name}"},
    ),
    "AWS::Lambda::LayerVersion": TypeInfo(
        "LayerName",
        ref=lambda r: r.place.arn("lambda", f"layer:{r.name}:1"),
        attributes={"LayerVersionArn": lambda r: r.place.arn("lambda", f"layer:{r.name}:1")},
    ),
    "AWS::Lambda::EventSourceMapping": TypeInfo(
        ref=lambda r: r.place.unique_id(r.logical_id),
        attributes={
            "Id": lambda r: r.place.unique_id(r.logical_id),
            "EventSourceMappingArn": lambda r: r.place.arn(
                "lambda", f"event-source-mapping:{r.place.unique_id(r.logical_id)}"
            ),
        },
    ),
    "AWS::Lambda::Url": TypeInfo(
        attributes={
            "FunctionUrl": lambda r: (
                f"https://{r.place.unique_id(r.logical_id)[:8]}.lambda-url.{r.place.region}.on.aws/"
            ),
            "FunctionArn": lambda r: _function_arn(r, r.prop("TargetFunctionArn")),
        }
    ),
    "AWS::SQS::Queue": TypeInfo(
        "QueueName",
        ref=_queue_url,
        attributes={"Arn": _queue_arn, "QueueName": lambda r: r.name, "QueueUrl": _queue_url},
        suffix=_fifo,
    ),
    "AWS::SNS::Topic": TypeInfo(
        "TopicName",
        ref=_topic_arn,
        attributes={"TopicArn": _topic_arn, "TopicName": lambda r: r.name},
        suffix=_fifo,
    ),
    "AWS::DynamoDB::Table": TypeInfo("TableName", attributes={"Arn": _table_arn, "StreamArn": _stream_arn}),
    "AWS::DynamoDB::GlobalTable": TypeInfo(
        "TableName", attributes={"Arn": _table_arn, "StreamArn": _stream_arn}
    ),
    "AWS::S3::Bucket": TypeInfo(
        "BucketName",
        lower_case=True,
        attributes={
            "Arn": _arn_of(
                "s3", "", region=False, account=False
            ),  # arn:aws:s3:::NAME: bucket names are global
            "DomainName": lambda r: f"{r.name}.s3.{r.place.url_suffix}",
            "RegionalDomainName": lambda r: f"{r.name}.s3.{r.place.region}.{r.place.url_suffix}",
            "DualStackDomainName": lambda r: f"{r.name}.s3.dualstack.{r.place.region}.{r.place.url_suffix}",
            "WebsiteURL": lambda r: f"http://{r.name}.s3-website-{r.place.region}.{r.place.url_suffix}",
        },
    ),
    "AWS::Events::EventBus": TypeInfo("Name", attributes={"Arn": _bus_arn, "Name": lambda r: r.name}),
    "AWS::Events::Rule": TypeInfo("Name", ref=_rule_ref, attributes={"Arn": _rule_arn}),
    "AWS::Events::Archive": TypeInfo("ArchiveName", attributes={"Arn": _arn_of("events", "archive/")}),
    "AWS::Events::Connection": TypeInfo("Name", attributes={"Arn": _with_id("events", "connection/")}),
    "AWS::Events::ApiDestination": TypeInfo(
        "Name", attributes={"Arn": _with_id("events", "api-destination/")}
    ),
    "AWS::Scheduler::Schedule": TypeInfo(
        "Name", attributes={"Arn": _arn_of("scheduler", "schedule/default/")}
    ),
    "AWS::Pipes::Pipe": TypeInfo("Name", attributes={"Arn": _arn_of("pipes", "pipe/")}),
    "AWS::IAM::Role": TypeInfo(
        "RoleName",
        attributes={
            "Arn": _role_arn,
            "RoleId": lambda r: "AROA" + r.place.unique_id(r.logical_id)[:17].upper(),
        },
    ),
    "AWS::IAM::ManagedPolicy": TypeInfo(
        "ManagedPolicyName",
        ref=lambda r: r.place.arn("iam", f"policy/{r.name}", region=False),
        attributes={"PolicyArn": lambda r: r.place.arn("iam", f"policy/{r.name}", region=False)},
    ),
    "AWS::MSK::Cluster": TypeInfo("ClusterName", ref=_msk_arn, attributes={"Arn": _msk_arn}),
    "AWS::MSK::ServerlessCluster": TypeInfo("ClusterName", ref=_msk_arn, attributes={"Arn": _msk_arn}),
    "AWS::Kinesis::Stream": TypeInfo("Name", attributes={"Arn": _arn_of("kinesis", "stream/")}),
    "AWS::Logs::LogGroup": TypeInfo(
        "LogGroupName", attributes={"Arn": lambda r: r.place.arn("logs", f"log-group:{r.name}:*")}
    ),
    "AWS::SecretsManager::Secret": TypeInfo("Name", ref=_secret_arn, attributes={"Id": _secret_arn}),
    "AWS::SSM::Parameter": TypeInfo(
        "Name", attributes={"Type": lambda r: r.prop("Type"), "Value": lambda r: r.prop("Value")}
    ),
    "AWS::KMS::Key": TypeInfo(
        ref=lambda r: r.place.unique_id(r.logical_id),
        attributes={
            "KeyId": lambda r: r.place.unique_id(r.logical_id),
            "Arn": lambda r: r.place.arn("kms", f"key/{r.place.unique_id(r.logical_id)}"),
        },
    ),
    "AWS::StepFunctions::StateMachine": TypeInfo(
        "StateMachineName",
        ref=_state_machine_arn,
        attributes={"Arn": _state_machine_arn, "Name": lambda r: r.name},
    ),
    "AWS::RDS::DBCluster": TypeInfo(
        "DBClusterIdentifier",
        lower_case=True,
        attributes={
            "DBClusterArn": lambda r: r.place.arn("rds", f"cluster:{r.name}"),
            "Endpoint.Address": _db_cluster_endpoint("cluster"),
            "Endpoint.Port": _db_cluster_port,
            "ReadEndpoint.Address": _db_cluster_endpoint("cluster-ro"),
            "MasterUserSecret.SecretArn": _db_cluster_secret_arn,
        },
    ),
    "AWS::CloudWatch::Alarm": TypeInfo("AlarmName", attributes={"Arn": _arn_of("cloudwatch", "alarm:")}),
}

_GENERIC = TypeInfo()


def type_info(resource_type: str) -> TypeInfo:
    return TYPES.get(resource_type, _GENERIC)


def physical_name(resource_type: str, logical_id: str, prop: Prop, place: Place) -> str:
    info = type_info(resource_type)
    if info.name_property:
        own = prop(info.name_property)
        if own is not None:
            return str(own)
    name = f"{place.stack_name}-{logical_id}"
    return (name.lower() if info.lower_case else name) + info.suffix(prop)
