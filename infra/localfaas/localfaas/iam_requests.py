"""What one AWS SDK call asks of IAM: the actions it needs and the resource ARN each is on.

From the "Actions, resources, and condition keys" page of each service in the Service Authorization
Reference (the action an operation is authorized as, and the resource type it names):
- DynamoDB: TableName (or a table ARN) -> `table/T`, with IndexName `table/T/index/I`; BatchGetItem,
  BatchWriteItem: each table of RequestItems; TransactWriteItems, TransactGetItems: each item as its
  own action (PutItem, UpdateItem, DeleteItem, ConditionCheckItem, GetItem) on its table
  (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html);
- SQS: QueueUrl -> `arn:aws:sqs:REGION:ACCOUNT:NAME`; the batch operations are authorized as their
  single form (SendMessageBatch as sqs:SendMessage, ...)
  (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsqs.html);
- SNS: TopicArn (or TargetArn); PublishBatch as sns:Publish
  (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsns.html);
- S3: `arn:aws:s3:::BUCKET/KEY` for object operations (HeadObject as s3:GetObject), the bucket's ARN
  for ListObjects(V2) and HeadBucket (s3:ListBucket)
  (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html);
- SES (API v1 and v2, one prefix): SendEmail, SendRawEmail, SendTemplatedEmail on the `identity/`
  ARN of the sender (SourceArn / FromEmailAddressIdentityArn when given, else the Source /
  FromEmailAddress address) (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonses.html);
- EventBridge: PutEvents on each entry's bus (`event-bus/NAME`, "default" when unnamed)
  (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoneventbridge.html);
- Secrets Manager: SecretId (an ARN as given; a name as `secret:NAME-??????`, the six characters
  Secrets Manager appends) (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecretsmanager.html);
- Lambda: Invoke as lambda:InvokeFunction on the function's ARN (with its qualifier)
  (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awslambda.html);
- Kinesis: StreamARN, or StreamName -> `stream/NAME`
  (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonkinesis.html).

Another operation of these services asks for its own action on resource "*" (so only a statement
granting it on "*" allows it). Calls to other services are not judged (`requested` returns None).
The MSK IAM-authentication actions (kafka-cluster:*) are asked by Kafka clients, not SDK calls.
"""

from __future__ import annotations

import json
import re
from email.utils import parseaddr
from typing import Any
from urllib.parse import unquote, urlsplit

from localfaas.sdk_hooks import SdkCall

__all__ = ["ENFORCED_SERVICES", "Requested", "operation", "requested"]

Requested = list[tuple[str, str]]  # (action, resource ARN), every one of which must be allowed

ENFORCED_SERVICES = (
    "dynamodb",
    "sqs",
    "sns",
    "s3",
    "ses",
    "sesv2",
    "events",
    "secretsmanager",
    "lambda",
    "kinesis",
)
_SINGLE_FORM = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
    "PublishBatch": "Publish",
}
_TRANSACT_ITEM = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


def requested(call: SdkCall, region: str, account: str) -> Requested | None:
    """What `call` asks IAM for, in `region` and `account` (where the ARNs it builds are); None for a
    service not judged here."""
    service = call.api
    if service not in ENFORCED_SERVICES:
        return None
    region = call.region or region
    where = _Where(region, account)
    if service == "s3":
        return _s3(call)
    if service == "sesv2":
        return _sesv2(call, where)
    if service == "lambda":
        return _lambda(call, where)
    operation, params = _operation(call)
    if not operation:
        return None
    prefix = "ses" if service == "sesv2" else service
    action = f"{prefix}:{_SINGLE_FORM.get(operation, operation)}"
    if service == "dynamodb":
        return _dynamodb(operation, params, where)
    derive = {
        "sqs": _sqs,
        "sns": _sns,
        "ses": _ses,
        "events": _events,
        "secretsmanager": _secret,
        "kinesis": _kinesis,
    }[service]
    return [(action, resource) for resource in derive(operation, params, where)]


_REST_APIS = ("s3", "sesv2", "lambda")


def operation(call: SdkCall) -> str | None:
    """The API operation `call` is, as "prefix:Operation" (the name CloudTrail's eventName gives it):
    from X-Amz-Target (AWS JSON) or Action= (query); for the REST APIs, the action it is authorized
    as (S3's HeadObject as s3:GetObject). None when it is not a signed AWS call."""
    service = call.api
    if not service:
        return None
    prefix = "ses" if service == "sesv2" else service
    if service in _REST_APIS:
        asked = requested(call, call.region or "", "")
        return asked[0][0] if asked else f"{prefix}:{_rest_operation(call)}"
    target = call.header("X-Amz-Target")
    name = target.rsplit(".", 1)[-1] if target else call.form().get("Action", "")
    return f"{prefix}:{name or _rest_operation(call)}"


class _Where:
    def __init__(self, region: str, account: str) -> None:
        self.region, self.account = region, account

    def arn(self, service: str, resource: str, *, region: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if region else ''}:{self.account}:{resource}"


def _operation(call: SdkCall) -> tuple[str, dict[str, Any]]:
    """The operation and its parameters: AWS JSON (X-Amz-Target) or the query protocol (Action=)."""
    target = call.header("X-Amz-Target")
    if target:
        try:
            params = json.loads(call.body or b"{}")
        except ValueError:
            params = {}
        return target.rsplit(".", 1)[-1], params if isinstance(params, dict) else {}
    form = call.form()
    return form.pop("Action", ""), form


def _dynamodb(operation: str, params: dict[str, Any], where: _Where) -> Requested:
    def table(name: str, index: str | None = None) -> str:
        arn = name if name.startswith("arn:") else where.arn("dynamodb", f"table/{name}")
        return f"{arn}/index/{index}" if index else arn

    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [(f"dynamodb:{operation}", table(name)) for name in params.get("RequestItems") or {}]
    if operation in ("TransactWriteItems", "TransactGetItems"):
        asked = []
        for item in params.get("TransactItems") or []:
            for kind, body in item.items():
                if kind in _TRANSACT_ITEM and isinstance(body, dict):
                    asked.append((f"dynamodb:{_TRANSACT_ITEM[kind]}", table(str(body.get("TableName", "")))))
        return asked
    if "TableName" in params:
        return [(f"dynamodb:{operation}", table(str(params["TableName"]), params.get("IndexName")))]
    if "StreamArn" in params:  # DynamoDB Streams signs as dynamodb too
        return [(f"dynamodb:{operation}", str(params["StreamArn"]))]
    return [(f"dynamodb:{operation}", "*")]


def _sqs(operation: str, params: dict[str, Any], where: _Where) -> list[str]:
    url = params.get("QueueUrl")
    if url:
        parts = [p for p in urlsplit(str(url)).path.split("/") if p]
        if len(parts) >= 2:
            return [f"arn:aws:sqs:{where.region}:{parts[-2]}:{parts[-1]}"]
    if params.get("QueueName"):  # GetQueueUrl, CreateQueue
        owner = params.get("QueueOwnerAWSAccountId") or where.account
        return [f"arn:aws:sqs:{where.region}:{owner}:{params['QueueName']}"]
    return ["*"]


def _sns(operation: str, params: dict[str, Any], where: _Where) -> list[str]:
    return [str(params.get("TopicArn") or params.get("TargetArn") or "*")]


def _identity(address: str, where: _Where) -> str:
    return where.arn("ses", f"identity/{parseaddr(address)[1] or address}")


def _ses(operation: str, params: dict[str, Any], where: _Where) -> list[str]:
    if params.get("SourceArn"):
        return [str(params["SourceArn"])]
    if params.get("Source"):
        return [_identity(str(params["Source"]), where)]
    return ["*"]


def _sesv2(call: SdkCall, where: _Where) -> Requested:
    if call.method == "POST" and call.path.rstrip("/") == "/v2/email/outbound-emails":
        try:
            params = json.loads(call.body or b"{}")
        except ValueError:
            params = {}
        if params.get("FromEmailAddressIdentityArn"):
            return [("ses:SendEmail", str(params["FromEmailAddressIdentityArn"]))]
        if params.get("FromEmailAddress"):
            return [("ses:SendEmail", _identity(str(params["FromEmailAddress"]), where))]
        return [("ses:SendEmail", "*")]
    return [(f"ses:{_rest_operation(call)}", "*")]


def _rest_operation(call: SdkCall) -> str:
    """A name for a REST call not modelled here: only ever granted by a statement on every action."""
    return f"{call.method.title()}{''.join(p.title() for p in re.split(r'[/-]', call.path) if p)}"


def _events(operation: str, params: dict[str, Any], where: _Where) -> list[str]:
    if operation != "PutEvents":
        return ["*"]
    buses = []
    for entry in params.get("Entries") or []:
        name = str(entry.get("EventBusName") or "default") if isinstance(entry, dict) else "default"
        arn = name if name.startswith("arn:") else where.arn("events", f"event-bus/{name}")
        if arn not in buses:
            buses.append(arn)
    return buses or [where.arn("events", "event-bus/default")]


def _secret(operation: str, params: dict[str, Any], where: _Where) -> list[str]:
    secret = str(params.get("SecretId") or "")
    if not secret:
        return ["*"]
    return [secret if secret.startswith("arn:") else where.arn("secretsmanager", f"secret:{secret}-??????")]


def _kinesis(operation: str, params: dict[str, Any], where: _Where) -> list[str]:
    if params.get("StreamARN"):
        return [str(params["StreamARN"])]
    if params.get("StreamName"):
        return [where.arn("kinesis", f"stream/{params['StreamName']}")]
    return ["*"]


_INVOKE = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")


def _lambda(call: SdkCall, where: _Where) -> Requested:
    match = _INVOKE.match(call.path)
    if call.method != "POST" or match is None:
        return [(f"lambda:{_rest_operation(call)}", "*")]
    name = unquote(match.group("name"))
    qualifier = dict(p.split("=", 1) for p in call.query.split("&") if "=" in p).get("Qualifier")
    if not name.startswith("arn:"):
        parts = name.split(":")  # NAME, NAME:QUALIFIER, or ACCOUNT:function:NAME (a partial ARN)
        if len(parts) >= 3 and parts[1] == "function":
            name = f"arn:aws:lambda:{where.region}:{name}"
        else:
            name = where.arn("lambda", f"function:{name}")
    if qualifier and name.count(":") == 6:
        name = f"{name}:{unquote(qualifier)}"
    return [("lambda:InvokeFunction", name)]


def _s3(call: SdkCall) -> Requested:
    bucket, key = _bucket_and_key(call)
    if not bucket:
        return [(f"s3:{_rest_operation(call)}", "*")]
    query = call.query
    if key:
        resource = f"arn:aws:s3:::{bucket}/{key}"
        subresource = next((s for s in ("acl", "tagging", "retention", "legal-hold") if _has(query, s)), None)
        if subresource is not None:
            return [(f"s3:{_rest_operation(call)}", resource)]
        if call.method in ("GET", "HEAD"):
            return [("s3:GetObject", resource)]
        if call.method == "PUT" or (call.method == "POST" and _has(query, "uploads")):
            asked = [("s3:PutObject", resource)]
            source = call.header("x-amz-copy-source")
            if source:  # CopyObject reads its source too
                asked.append(("s3:GetObject", f"arn:aws:s3:::{unquote(source.split('?', 1)[0]).lstrip('/')}"))
            return asked
        if call.method == "DELETE":
            return [("s3:DeleteObject", resource)]
        return [("s3:PutObject", resource)]  # POST ?uploadId= completes a multipart upload
    if call.method in ("GET", "HEAD") and {p.split("=", 1)[0] for p in query.split("&") if p} <= _LISTING:
        return [("s3:ListBucket", f"arn:aws:s3:::{bucket}")]
    return [(f"s3:{_rest_operation(call)}", f"arn:aws:s3:::{bucket}")]


_LISTING = {
    "list-type",
    "prefix",
    "delimiter",
    "max-keys",
    "continuation-token",
    "start-after",
    "encoding-type",
    "marker",
    "fetch-owner",
}


def _has(query: str, name: str) -> bool:
    return any(p.split("=", 1)[0] == name for p in query.split("&"))


def _bucket_and_key(call: SdkCall) -> tuple[str, str]:
    """Virtual-hosted style (BUCKET.s3.REGION.amazonaws.com/KEY) or path style (/BUCKET/KEY)."""
    host = call.host.split(":", 1)[0]
    match = re.match(r"^(?P<bucket>.+)\.s3[.-]", host)
    if match and host.endswith("amazonaws.com"):
        return match.group("bucket"), unquote(call.path.lstrip("/"))
    bucket, _, key = call.path.lstrip("/").partition("/")
    return unquote(bucket), unquote(key)
