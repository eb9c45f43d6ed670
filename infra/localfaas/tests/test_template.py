"""load_stack expands SAM and resolves intrinsics as CloudFormation would, on small templates."""

from __future__ import annotations

import pytest

from infra.localfaas.tests.sam_app import write_app
from localfaas.template import FunctionNotFound, TemplateError, load_stack

STORE = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
    AllowedValues: [dev, prod]
  Topics:
    Type: CommaDelimitedList
    Default: orders,payments
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  IsDev: !Not [!Condition IsProd]
  DevInUsEast: !And [!Condition IsDev, !Equals [!Ref "AWS::Region", us-east-1]]
  ProdOrEast: !Or [!Condition IsProd, !Condition DevInUsEast]
Mappings:
  Sizes:
    dev: {Memory: 256}
    prod: {Memory: 1024}
Globals:
  Function:
    Runtime: python3.11
    Timeout: 10
    Environment:
      Variables:
        STAGE: !Ref Stage
        TABLE: !Ref Orders
Resources:
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-orders"
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      StreamSpecification: {StreamViewType: NEW_IMAGE}
  Dlq:
    Type: AWS::SQS::Queue
  Alerts:
    Type: AWS::SNS::Topic
  Archive:
    Type: AWS::S3::Bucket
  ProdOnly:
    Type: AWS::SQS::Queue
    Condition: IsProd
  Bus:
    Type: AWS::Events::EventBus
    Properties:
      Name: !Sub "${AWS::StackName}-bus"
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: shared/
    Metadata:
      BuildMethod: python3.11
  Vendored:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: vendored/
  Reorder:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/reorder/
      Handler: app.handler
      MemorySize: !FindInMap [Sizes, !Ref Stage, Memory]
      Layers: [!Ref Shared, !Ref Vendored]
      Environment:
        Variables:
          TABLE: overridden-by-function
          REGION_ACCOUNT: !Sub "${AWS::Region}:${AWS::AccountId}:${AWS::Partition}"
          QUEUE_URL: !Ref Dlq
          QUEUE_ARN: !GetAtt Dlq.Arn
          QUEUE_NAME: !GetAtt [Dlq, QueueName]
          TOPIC: !Ref Alerts
          BUCKET: !Ref Archive
          STREAM: !GetAtt Orders.StreamArn
          SUB_FORMS: !Sub ["${Name}/${Dlq.QueueName}/${!Literal}", {Name: !Ref Stage}]
          JOINED: !Join ["+", !Ref Topics]
          SECOND: !Select [1, !Split [",", "a,b,c"]]
          MODE: !If [IsProd, strict, relaxed]
          ONLY_IN_PROD: !If [IsProd, "yes", !Ref "AWS::NoValue"]
          EAST: !If [ProdOrEast, east, elsewhere]
      EventInvokeConfig:
        MaximumRetryAttempts: 1
        MaximumEventAgeInSeconds: 600
        DestinationConfig:
          OnFailure:
            Type: SQS
            Destination: !GetAtt Dlq.Arn
      DeadLetterQueue:
        Type: SQS
        TargetArn: !GetAtt Dlq.Arn
      Events:
        Inventory:
          Type: MSK
          Properties:
            Stream: arn:aws:kafka:us-east-1:123456789012:cluster/shop/abc-1
            Topics: [!Select [0, !Ref Topics]]
            StartingPosition: TRIM_HORIZON
        Restocked:
          Type: EventBridgeRule
          Properties:
            EventBusName: !Ref Bus
            Pattern: {source: [warehouse]}
  Notify:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: notify-security
      CodeUri: functions/notify/
      Handler: notify/main.handler
      Timeout: 3
      Architectures: [arm64]
Outputs:
  Mode:
    Value: !If [IsProd, prod-mode, dev-mode]
"""

FILES = {
    "functions/reorder/app.py": "def handler(event, context):\n    return event\n",
    "functions/notify/notify/main.py": "def handler(event, context):\n    return None\n",
    "shared/store/__init__.py": "",
    "vendored/python/vendored_lib.py": "",
}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return write_app(tmp_path_factory.mktemp("store"), STORE, FILES)


@pytest.fixture(scope="module")
def stack(app):
    return load_stack(app)


@pytest.fixture(scope="module")
def prod(app):
    return load_stack(app, {"Stage": "prod"}, stack_name="shop", endpoint_url="http://127.0.0.1:5000")


def env(stack, function="Reorder"):
    return stack.function(function).environment


# -- parameters and pseudo parameters -----------------------------------------------------------------


def test_parameter_defaults_apply_when_not_overridden(stack):
    assert stack.parameters["Stage"] == "dev"
    assert env(stack)["STAGE"] == "dev"


def test_parameter_overrides_replace_defaults(prod):
    assert env(prod)["STAGE"] == "prod"


def test_comma_delimited_list_parameter_resolves_to_a_list(stack):
    assert stack.parameters["Topics"] == ["orders", "payments"]
    assert env(stack)["JOINED"] == "orders+payments"


def test_pseudo_parameters_resolve_to_the_given_place(app):
    stack = load_stack(app, region="eu-west-1", account_id="111122223333")
    assert env(stack)["REGION_ACCOUNT"] == "eu-west-1:111122223333:aws"


def test_a_value_outside_allowed_values_is_refused(app):
    with pytest.raises(TemplateError, match="Parameter 'Stage' must be one of AllowedValues"):
        load_stack(app, {"Stage": "qa"})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("many", "must be a number$"),
        ("0", "must be a number not less than 1"),
        ("11", "must be a number not greater than 10"),
    ],
)
def test_number_parameters_are_checked_against_their_bounds(tmp_path, value, message):
    template = write_app(
        tmp_path,
        """\
        Parameters:
          Threshold: {Type: Number, Default: 3, MinValue: 1, MaxValue: 10}
        Resources:
          Q: {Type: AWS::SQS::Queue}
        """,
    )
    assert load_stack(template).parameters["Threshold"] == "3"
    with pytest.raises(TemplateError, match=f"Parameter 'Threshold' {message}"):
        load_stack(template, {"Threshold": value})


def test_a_parameter_without_default_or_override_is_refused(tmp_path):
    template = write_app(
        tmp_path,
        """\
        Parameters:
          Secret: {Type: String}
        Resources:
          Q: {Type: AWS::SQS::Queue}
        """,
    )
    with pytest.raises(TemplateError, match=r"Parameters: \[Secret\] must have values"):
        load_stack(template)


# -- intrinsic functions ------------------------------------------------------------------------------


def test_sub_resolves_names_attributes_variables_and_escapes(stack):
    assert env(stack)["SUB_FORMS"] == "dev/localfaas-Dlq/${Literal}"


def test_queue_ref_is_its_aws_url_without_an_endpoint(stack):
    assert env(stack)["QUEUE_URL"] == "https://sqs.us-east-1.amazonaws.com/123456789012/localfaas-Dlq"


def test_queue_ref_is_its_url_at_the_endpoint(prod):
    assert env(prod)["QUEUE_URL"] == "http://127.0.0.1:5000/123456789012/shop-Dlq"


def test_getatt_returns_arns_and_names(stack):
    e = env(stack)
    assert e["QUEUE_ARN"] == "arn:aws:sqs:us-east-1:123456789012:localfaas-Dlq"
    assert e["QUEUE_NAME"] == "localfaas-Dlq"
    assert e["TOPIC"] == "arn:aws:sns:us-east-1:123456789012:localfaas-Alerts"
    assert e["STREAM"].startswith("arn:aws:dynamodb:us-east-1:123456789012:table/localfaas-orders/stream/")


def test_select_and_split_pick_an_item(stack):
    assert env(stack)["SECOND"] == "b"


def test_find_in_map_follows_the_parameter(stack, prod):
    assert (stack.function("Reorder").memory_size, prod.function("Reorder").memory_size) == (256, 1024)


def test_if_follows_conditions(stack, prod):
    assert (env(stack)["MODE"], env(prod)["MODE"]) == ("relaxed", "strict")
    assert (env(stack)["EAST"], env(prod)["EAST"]) == ("east", "east")
    assert stack.conditions == {"IsProd": False, "IsDev": True, "DevInUsEast": True, "ProdOrEast": True}


def test_no_value_removes_the_property(stack, prod):
    assert "ONLY_IN_PROD" not in env(stack)
    assert env(prod)["ONLY_IN_PROD"] == "yes"


def test_a_resource_whose_condition_is_false_is_not_created(stack, prod):
    assert "ProdOnly" not in stack.resources and "ProdOnly" in prod.resources


def test_outputs_resolve_on_demand(stack):
    assert stack.outputs == {"Mode": "dev-mode"}


def test_an_unsupported_attribute_names_the_resource_and_property_path(tmp_path):
    template = write_app(
        tmp_path,
        """\
        Transform: AWS::Serverless-2016-10-31
        Resources:
          Orders: {Type: AWS::DynamoDB::Table}
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: src/
              Handler: app.handler
              Runtime: python3.11
              Environment:
                Variables:
                  X: !GetAtt Orders.Colour
        """,
    )
    with pytest.raises(TemplateError) as raised:
        load_stack(template)
    assert "Resources.Fn.Properties.Environment.Variables.X" in str(raised.value)
    assert "Orders.Colour" in str(raised.value)


def test_import_value_is_refused_with_the_reason(tmp_path):
    template = write_app(
        tmp_path,
        """\
        Resources:
          Q:
            Type: AWS::SQS::Queue
            Properties:
              QueueName: !ImportValue other-stack-queue
        """,
    )
    with pytest.raises(
        TemplateError, match=r"Resources\.Q\.Properties\.QueueName\.Fn::ImportValue.*single stack"
    ):
        load_stack(template)


def test_a_ref_to_nothing_is_refused(tmp_path):
    template = write_app(
        tmp_path,
        """\
        Resources:
          Q:
            Type: AWS::SQS::Queue
            Properties:
              QueueName: !Ref Missing
        """,
    )
    with pytest.raises(TemplateError, match="'Missing' is neither a parameter nor a resource"):
        load_stack(template)


# -- physical names -----------------------------------------------------------------------------------


def test_physical_names_use_the_name_property_or_stack_and_logical_id(stack, prod):
    assert stack.physical_names["Orders"] == "localfaas-orders"
    assert stack.physical_names["Dlq"] == "localfaas-Dlq"
    assert prod.physical_names["Dlq"] == "shop-Dlq"
    assert stack.physical_names["Bus"] == "localfaas-bus"


def test_bucket_default_names_are_lower_case(stack):
    assert stack.physical_names["Archive"] == "localfaas-archive"
    assert env(stack)["BUCKET"] == "localfaas-archive"


# -- functions ----------------------------------------------------------------------------------------


def test_globals_apply_and_function_values_win(stack):
    reorder, notify = stack.function("Reorder"), stack.function("Notify")
    assert (reorder.timeout, notify.timeout) == (10, 3)
    assert reorder.runtime == notify.runtime == "python3.11"
    assert reorder.environment["TABLE"] == "overridden-by-function"
    assert notify.environment == {"STAGE": "dev", "TABLE": "localfaas-orders"}


def test_function_defaults_follow_lambda(tmp_path):
    template = write_app(
        tmp_path,
        """\
        Transform: AWS::Serverless-2016-10-31
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: src, Handler: app.handler, Runtime: python3.11}
        """,
    )
    fn = load_stack(template).function("Fn")
    assert (fn.timeout, fn.memory_size, fn.architectures, fn.environment) == (3, 128, ("x86_64",), {})
    assert (fn.dead_letter_arn, fn.event_invoke_config) == (None, None)


def test_function_names_and_arns(stack):
    reorder, notify = stack.function("Reorder"), stack.function("Notify")
    assert reorder.function_name == "localfaas-Reorder"
    assert notify.function_name == "notify-security"
    assert notify.arn == "arn:aws:lambda:us-east-1:123456789012:function:notify-security"
    assert notify.architectures == ("arm64",)


def test_code_dir_is_absolute_and_relative_to_the_template(app, stack):
    assert stack.function("Reorder").code_dir == app.parent / "functions" / "reorder"
    assert stack.function("Notify").handler == "notify/main.handler"


def test_layer_dirs_follow_build_method_or_python_folder(app, stack):
    assert stack.function("Reorder").layer_dirs == (app.parent / "shared", app.parent / "vendored" / "python")
    assert stack.function("Notify").layer_dirs == ()


def test_event_invoke_config_and_dead_letter_queue_are_kept(stack):
    reorder = stack.function("Reorder")
    dlq = "arn:aws:sqs:us-east-1:123456789012:localfaas-Dlq"
    assert reorder.dead_letter_arn == dlq
    assert reorder.event_invoke_config["MaximumRetryAttempts"] == 1
    assert reorder.event_invoke_config["MaximumEventAgeInSeconds"] == 600
    assert reorder.event_invoke_config["DestinationConfig"] == {"OnFailure": {"Destination": dlq}}


def test_function_lookup_by_logical_id_name_or_arn(stack):
    notify = stack.function("Notify")
    assert stack.function("notify-security") is notify
    assert stack.function(notify.arn + ":$LATEST") is notify


def test_an_unknown_function_lists_the_known_ones(stack):
    with pytest.raises(FunctionNotFound, match=r"'Nope' not found.*known functions: Notify, Reorder"):
        stack.function("Nope")


# -- event sources ------------------------------------------------------------------------------------


def test_msk_event_becomes_a_resolved_event_source_mapping(stack):
    (mapping,) = stack.event_source_mappings
    assert mapping.logical_id == "ReorderInventory"
    assert mapping.properties["FunctionName"] == "localfaas-Reorder"
    assert mapping.properties["Topics"] == ["orders"]
    assert mapping.properties["EventSourceArn"] == "arn:aws:kafka:us-east-1:123456789012:cluster/shop/abc-1"


def test_eventbridge_rule_targets_the_function_on_the_bus(stack):
    (rule,) = stack.rules
    assert rule.logical_id == "ReorderRestocked"
    assert rule.properties["EventBusName"] == "localfaas-bus"
    assert rule.properties["EventPattern"] == {"source": ["warehouse"]}
    assert [t["Arn"] for t in rule.properties["Targets"]] == [stack.function("Reorder").arn]


def test_resources_of_type_lists_resolved_resources(stack):
    assert [r.physical_name for r in stack.resources_of_type("AWS::SQS::Queue")] == ["localfaas-Dlq"]


def test_sam_validation_errors_name_the_resource(tmp_path):
    template = write_app(
        tmp_path,
        """\
        Transform: AWS::Serverless-2016-10-31
        Resources:
          Broken:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: src, Runtime: python3.11, Events: {E: {Type: Nope}}}
        """,
    )
    with pytest.raises(TemplateError, match="Broken"):
        load_stack(template)


def test_an_ssm_parameter_needs_an_override_only_when_used(tmp_path):
    template = write_app(
        tmp_path,
        """\
        Parameters:
          Unused: {Type: "AWS::SSM::Parameter::Value<String>", Default: /shop/unused}
          Used: {Type: "AWS::SSM::Parameter::Value<String>", Default: /shop/queue-name}
        Resources:
          Q:
            Type: AWS::SQS::Queue
            Properties: {QueueName: !Ref Used}
        """,
    )
    assert load_stack(template, {"Used": "jobs"}).physical_names["Q"] == "jobs"
    with pytest.raises(
        TemplateError,
        match=r"Resources\.Q\.Properties\.QueueName: .*SSM Parameter Store key '/shop/queue-name'",
    ):
        load_stack(template)
