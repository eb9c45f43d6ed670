"""Execution roles enforced: a function's call its SAM-expanded role does not allow fails with the
service's own AccessDenied, worded as AWS words it, on both runtimes; allowed calls, localfaas's own
calls and a stack with --no-enforce-roles pass; each in-process function signs with its own role."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from infra.localfaas.tests.sam_app import write_app
from localfaas.execution_roles import ExecutionRole, access_key_id
from localfaas.local_stack import LocalStack
from localfaas.role_enforcement import RoleEnforcer

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.11
    Handler: app.handler
    CodeUri: src/
Resources:
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
  Tickets:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
  WriteOrders:
    Type: AWS::Serverless::Function
    Properties:
      Environment: {Variables: {ORDERS: !Ref Orders, TICKETS: !Ref Tickets}}
      Policies:
        - DynamoDBWritePolicy: {TableName: !Ref Orders}
  WriteTickets:
    Type: AWS::Serverless::Function
    Properties:
      Environment: {Variables: {ORDERS: !Ref Orders, TICKETS: !Ref Tickets}}
      Policies:
        - Statement:
            - Effect: Allow
              Action: dynamodb:PutItem
              Resource: !GetAtt Tickets.Arn
            - Effect: Deny
              Action: dynamodb:PutItem
              Resource: !GetAtt Orders.Arn
  Outsider:
    Type: AWS::Serverless::Function
    Properties:
      Role: arn:aws:iam::123456789012:role/made-elsewhere
      Environment: {Variables: {ORDERS: !Ref Orders, TICKETS: !Ref Tickets}}
"""

# Puts an item in the table the event names; returns the error code and message AWS answered with.
HANDLER = """\
import os
import boto3
from botocore.exceptions import ClientError

dynamodb = boto3.client("dynamodb")


def handler(event, context):
    try:
        if "bus" in event:
            boto3.client("events").put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}", "EventBusName": event["bus"]}])
        else:
            dynamodb.put_item(TableName=os.environ[event["table"]], Item={"id": {"S": "1"}})
    except ClientError as e:
        error = e.response["Error"]
        return {"code": error["Code"], "message": error["Message"], "status": e.response["ResponseMetadata"]["HTTPStatusCode"]}
    return {"code": "ok"}
"""


@pytest.fixture
def app(tmp_path):
    return write_app(tmp_path, TEMPLATE, {"src/app.py": HANDLER})


def put(stack, function, table):
    result = stack.invoke(function, {"table": table})
    assert result.ok, result.error
    return result.payload


@pytest.mark.parametrize("runtime", ["in-process", "worker"])
def test_a_call_the_role_does_not_allow_fails_with_access_denied_and_an_allowed_one_passes(app, runtime):
    with LocalStack(app, runtime=runtime, enforce_roles=True) as stack:
        assert put(stack, "WriteOrders", "ORDERS") == {"code": "ok"}
        denied = put(stack, "WriteOrders", "TICKETS")
        tickets = f"arn:aws:dynamodb:us-east-1:123456789012:table/{stack.physical_name('Tickets')}"
        role = stack.template.resources["WriteOrders"]["Properties"]["Role"].rsplit("/", 1)[-1]
        assert denied == {
            "code": "AccessDeniedException",
            "status": 400,
            "message": f"User: arn:aws:sts::123456789012:assumed-role/{role}/localfaas-WriteOrders is not "
            f"authorized to perform: dynamodb:PutItem on resource: {tickets} because no identity-based "
            "policy allows the dynamodb:PutItem action",
        }
        assert [(d.function, d.action, d.resource) for d in stack.enforcer.denied] == [
            ("WriteOrders", "dynamodb:PutItem", tickets)
        ]


@pytest.mark.parametrize("runtime", ["in-process", "worker"])
def test_put_events_is_judged_at_the_events_endpoint_too(app, runtime):
    with LocalStack(app, runtime=runtime, enforce_roles=True) as stack:
        result = stack.invoke("WriteOrders", {"bus": "default"})
        assert result.ok, result.error
        assert result.payload["code"] == "AccessDeniedException"
        assert (
            "events:PutEvents on resource: arn:aws:events:us-east-1:123456789012:event-bus/default"
            in (result.payload["message"])
        )


def test_an_explicit_deny_says_so(app):
    with LocalStack(app, enforce_roles=True) as stack:
        assert put(stack, "WriteTickets", "TICKETS") == {"code": "ok"}
        denied = put(stack, "WriteTickets", "ORDERS")
        assert denied["code"] == "AccessDeniedException"
        assert denied["message"].endswith("with an explicit deny in an identity-based policy")


def test_each_in_process_function_signs_with_its_own_role(app):
    """The in-process runtime shares one interpreter: a function whose client came from a shared boto3
    default session would sign with the first function's credentials and be allowed its calls."""
    with LocalStack(app, runtime="in-process", enforce_roles=True) as stack:
        assert put(stack, "WriteOrders", "ORDERS") == {"code": "ok"}
        assert put(stack, "WriteTickets", "ORDERS")["code"] == "AccessDeniedException"
        assert put(stack, "WriteTickets", "TICKETS") == {"code": "ok"}
        assert put(stack, "WriteOrders", "TICKETS")["code"] == "AccessDeniedException"


def test_without_enforcement_every_call_passes(app):
    with LocalStack(app, enforce_roles=False) as stack:
        assert stack.enforcer is None
        assert put(stack, "WriteOrders", "TICKETS") == {"code": "ok"}


def test_a_role_from_outside_the_template_is_said_once_and_not_enforced(app):
    with LocalStack(app, enforce_roles=True) as stack:
        notes = [w for w in stack.warnings if w.startswith("Outsider:")]
        assert notes == [
            "Outsider: its Role 'arn:aws:iam::123456789012:role/made-elsewhere' is not a role of the "
            "template: its calls are not checked against a role"
        ]
        assert put(stack, "Outsider", "TICKETS") == {"code": "ok"}


def test_localfaas_own_calls_are_not_judged(app):
    with LocalStack(app, enforce_roles=True) as stack:
        stack.client("dynamodb").put_item(TableName=stack.physical_name("Tickets"), Item={"id": {"S": "x"}})
        assert stack.enforcer.denied == []


def test_aws_managed_policies_come_from_moto_and_an_unknown_one_grants_nothing(tmp_path):
    template = TEMPLATE.replace(
        "        - DynamoDBWritePolicy: {TableName: !Ref Orders}",
        "        - AmazonDynamoDBFullAccess\n        - arn:aws:iam::aws:policy/NoSuchPolicy",
    )
    app = write_app(tmp_path, template, {"src/app.py": HANDLER})
    with LocalStack(app, enforce_roles=True) as stack:
        assert any(
            "managed policy arn:aws:iam::aws:policy/NoSuchPolicy is unknown" in w for w in stack.warnings
        )
        assert put(stack, "WriteOrders", "TICKETS") == {"code": "ok"}  # dynamodb:* on *


def test_the_localstack_backend_says_enforcement_is_not_available():
    from localfaas.role_enforcement import enforcer_for

    enforcer, note = enforcer_for(True, "localstack", "us-east-1", "123456789012")
    assert enforcer is None and "not enforced on the LocalStack backend" in note


# -- each service's own AccessDenied, as botocore reads it ------------------------------------------

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/q"
CALLS = {
    "dynamodb": ("get_item", {"TableName": "t", "Key": {"id": {"S": "1"}}}, 400, "AccessDeniedException"),
    "sqs": ("send_message", {"QueueUrl": QUEUE, "MessageBody": "x"}, 400, "AccessDenied"),
    "sns": (
        "publish",
        {"TopicArn": "arn:aws:sns:us-east-1:123456789012:t", "Message": "x"},
        403,
        "AuthorizationError",
    ),
    "ses": (
        "send_email",
        {
            "Source": "a@example.com",
            "Destination": {"ToAddresses": ["b@example.com"]},
            "Message": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}},
        },
        403,
        "AccessDenied",
    ),
    "sesv2": (
        "send_email",
        {
            "FromEmailAddress": "a@example.com",
            "Destination": {"ToAddresses": ["b@example.com"]},
            "Content": {"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}},
        },
        403,
        "AccessDeniedException",
    ),
    "s3": ("put_object", {"Bucket": "b", "Key": "k", "Body": b"x"}, 403, "AccessDenied"),
    "events": (
        "put_events",
        {"Entries": [{"Source": "s", "DetailType": "d", "Detail": "{}"}]},
        400,
        "AccessDeniedException",
    ),
    "secretsmanager": ("get_secret_value", {"SecretId": "s"}, 400, "AccessDeniedException"),
    "lambda": ("invoke", {"FunctionName": "f"}, 403, "AccessDeniedException"),
    "kinesis": (
        "put_record",
        {"StreamName": "s", "Data": b"x", "PartitionKey": "k"},
        400,
        "AccessDeniedException",
    ),
}


@pytest.fixture
def nothing_allowed():
    role = ExecutionRole("Fn", "localfaas-Fn", "arn:aws:iam::123456789012:role/fn-role", (), "123456789012")
    enforcer = RoleEnforcer("us-east-1", "123456789012")
    enforcer.load({"Fn": role})
    uninstall = enforcer.install_in_process()
    yield role
    uninstall()


@pytest.mark.parametrize("service", sorted(CALLS))
def test_each_service_answers_with_its_own_access_denied(nothing_allowed, service):
    operation, params, status, code = CALLS[service]
    session = boto3.session.Session(region_name="us-east-1", **_keys(nothing_allowed))
    client = session.client(service, config=boto3.session.Config(retries={"max_attempts": 0}))
    with pytest.raises(ClientError) as caught:
        getattr(client, operation)(**params)
    response = caught.value.response
    assert (response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]) == (status, code)
    assert response["Error"]["Message"].startswith(
        "User: arn:aws:sts::123456789012:assumed-role/fn-role/localfaas-Fn is not authorized to perform: "
    )


def _keys(role: ExecutionRole) -> dict[str, str]:
    assert role.access_key_id == access_key_id(role.role_arn, role.function_name)
    env = role.credentials_env()
    return {
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
        "aws_session_token": env["AWS_SESSION_TOKEN"],
    }


@pytest.mark.parametrize("command", ["run", "up", "invoke", "start-api", "start-lambda"])
def test_the_commands_take_enforce_roles_and_its_negation(command):
    from localfaas.cli import build_parser
    from localfaas.role_enforcement import ENFORCE_ROLES_DEFAULT

    parse = build_parser().parse_args
    extra = ["--scenario", "s.json"] if command == "run" else []
    assert parse([command, *extra]).enforce_roles is ENFORCE_ROLES_DEFAULT
    assert parse([command, *extra, "--enforce-roles"]).enforce_roles is True
    assert parse([command, *extra, "--no-enforce-roles"]).enforce_roles is False


def test_the_key_a_worker_is_given_before_the_stack_starts_is_the_one_its_role_is_judged_by(tmp_path):
    # `localfaas invoke` names the role (execution_roles.credentials_env) without reading its policies.
    from localfaas.execution_roles import credentials_env, execution_roles
    from localfaas.template import load_stack

    template = tmp_path / "template.yaml"
    template.write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Resources:\n"
        "  Fn:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties: {Runtime: python3.11, CodeUri: src/, Handler: app.handler,\n"
        "      Policies: [AmazonSQSReadOnlyAccess]}\n"
        "  Outside:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties: {Runtime: python3.11, CodeUri: src/, Handler: app.handler,\n"
        "      Role: arn:aws:iam::123456789012:role/made-elsewhere}\n"
    )
    (tmp_path / "src").mkdir()
    stack = load_stack(template)
    roles, _ = execution_roles(stack)

    assert credentials_env(stack, "Fn") == roles["Fn"].credentials_env()
    assert credentials_env(stack, "Fn")["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    assert credentials_env(stack, "Outside") == {}


def test_a_verdict_given_once_is_given_again_until_other_roles_are_loaded(nothing_allowed):
    # The enforcer keeps IAM's verdicts per role, action and resource: the same call is refused each
    # time, and a role loaded afresh with a policy that allows it is judged by that policy.
    session = boto3.session.Session(region_name="us-east-1", **_keys(nothing_allowed))
    sqs = session.client("sqs", config=boto3.session.Config(retries={"max_attempts": 0}))
    for _ in range(2):
        with pytest.raises(ClientError, match="AccessDenied"):
            sqs.list_queues()
    allowing = {"Statement": [{"Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*"}]}
    role = nothing_allowed
    enforcer = RoleEnforcer("us-east-1", "123456789012")
    enforcer.load({"Fn": role})
    assert enforcer.judge(_call_of(sqs)) is not None
    enforcer.load(
        {
            "Fn": ExecutionRole(
                role.function_logical_id, role.function_name, role.role_arn, (allowing,), role.account_id
            )
        }
    )
    assert enforcer.judge(_call_of(sqs)) is None


def _call_of(client):
    """The ListQueues call `client` sends, as the judges see it (taken at before-send, never sent)."""
    from botocore.awsrequest import AWSResponse

    from localfaas.sdk_hooks import SdkCall

    seen = []

    def take(request, **_):
        seen.append(SdkCall(request.method, request.url, request.headers, request.body))
        return AWSResponse(request.url, 200, {}, _Empty())

    client.meta.events.register_first("before-send", take)
    try:
        client.list_queues()
    finally:
        client.meta.events.unregister("before-send", take)
    return seen[0]


class _Empty:
    def stream(self, **_):
        yield b"{}"
