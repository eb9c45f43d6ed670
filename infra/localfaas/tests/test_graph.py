"""The topology graph: edges read from a small SAM template, and its Mermaid, DOT and SVG drawings."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest

from localfaas.cli import main
from localfaas.graph import Edge, Graph, Node, build_graph, summarise_pattern, to_dot, to_mermaid, to_svg
from localfaas.template import load_stack

SVG = "{http://www.w3.org/2000/svg}"

TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.11
    Handler: app.handler
    CodeUri: src/
Resources:
  Bus:
    Type: AWS::Events::EventBus
    Properties:
      Name: !Sub ${AWS::StackName}-bus
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
  Failures:
    Type: AWS::SQS::Queue
  Work:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy: {deadLetterTargetArn: !GetAtt WorkDeadLetters.Arn, maxReceiveCount: 3}
  WorkDeadLetters:
    Type: AWS::SQS::Queue
  Alerts:
    Type: AWS::SNS::Topic
  Archive:
    Type: AWS::S3::Bucket
  Ingest:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          ORDERS_TABLE: !Ref Orders
          BUS_NAME: !Ref Bus
      Policies:
        - DynamoDBCrudPolicy: {TableName: !Ref Orders}
        - EventBridgePutEventsPolicy: {EventBusName: !Ref Bus}
        - SQSSendMessagePolicy: {QueueName: !GetAtt Failures.QueueName}
      Events:
        OrderEvents:
          Type: MSK
          Properties:
            Stream: arn:aws:kafka:us-east-1:123456789012:cluster/shop/abc
            Topics: [orders]
            StartingPosition: TRIM_HORIZON
            ConsumerGroupId: ingest-group
            FilterCriteria:
              Filters:
                - Pattern: '{"value": {"kind": ["OrderPlaced"]}}'
            DestinationConfig:
              OnFailure:
                Destination: !GetAtt Failures.Arn
  Notify:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          ORDERS_TABLE: !Ref Orders
      Policies:
        - SNSPublishMessagePolicy: {TopicName: !GetAtt Alerts.TopicName}
        - S3WritePolicy: {BucketName: !Ref Archive}
      Events:
        Accepted:
          Type: EventBridgeRule
          Properties:
            EventBusName: !Ref Bus
            Pattern:
              source: [shop.orders]
              detail-type: [OrderAccepted]
            DeadLetterConfig:
              Arn: !GetAtt Failures.Arn
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Work.Arn
"""


@pytest.fixture(scope="module")
def template_path(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shop")
    (folder / "src").mkdir()
    (folder / "src" / "app.py").write_text("def handler(event, context):\n    return event\n")
    path = folder / "template.yaml"
    path.write_text(TEMPLATE)
    return path


@pytest.fixture(scope="module")
def graph(template_path):
    return build_graph(load_stack(template_path, stack_name="shop"))


def _edge(graph: Graph, source: str, target: str) -> Edge:
    edge = graph.edge(source, target)
    assert edge is not None, f"no edge {source} -> {target}"
    return edge


def test_kafka_topic_feeds_its_function_labelled_with_group_and_filter(graph):
    assert graph.nodes["kafka_orders"].kind == "kafka-topic"
    edge = _edge(graph, "kafka_orders", "Ingest")
    assert edge.label == "group ingest-group\nfilter value.kind: OrderPlaced"
    assert not edge.dashed


def test_mapping_failures_go_dashed_to_the_destination_and_only_there(graph):
    assert _edge(graph, "Ingest", "Failures") == Edge("Ingest", "Failures", "on failure", dashed=True)
    # The SQS send permission exists for that destination: no second, solid edge for it.
    assert [e for e in graph.edges if (e.source, e.target) == ("Ingest", "Failures")] == [
        Edge("Ingest", "Failures", "on failure", dashed=True)
    ]


def test_function_puts_events_on_the_bus_it_has_permission_for(graph):
    assert _edge(graph, "Ingest", "Bus").label == "PutEvents"


def test_function_reaches_the_table_its_policy_names(graph):
    assert _edge(graph, "Ingest", "Orders").label == "read/write"


def test_bus_feeds_the_rule_which_targets_the_function(graph):
    (rule,) = [n for n in graph.nodes.values() if n.kind == "rule"]
    assert rule.label == "detail-type: OrderAccepted\nsource: shop.orders"
    assert _edge(graph, "Bus", rule.id)
    assert _edge(graph, rule.id, "Notify")
    assert _edge(graph, rule.id, "Failures") == Edge(rule.id, "Failures", "dead letters", dashed=True)


def test_function_publishes_and_writes_where_its_policies_allow(graph):
    assert _edge(graph, "Notify", "Alerts").label == "publish"
    assert _edge(graph, "Notify", "Archive").label == "write"


def test_environment_name_without_permission_draws_no_edge(graph):
    assert graph.edge("Notify", "Orders") is None


def test_queue_feeds_its_consumer_and_redrives_to_its_dead_letter_queue(graph):
    assert _edge(graph, "Work", "Worker")
    assert _edge(graph, "Work", "WorkDeadLetters") == Edge(
        "Work", "WorkDeadLetters", "redrive after 3", dashed=True
    )


def test_environment_reference_counts_when_the_role_is_outside_the_template():
    stack = SimpleNamespace(
        resources={
            "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Role": "arn:aws:iam::123456789012:role/made-elsewhere",
                    "Environment": {"Variables": {"TABLE": "s-Table"}},
                },
            },
        },
        physical_names={"Table": "s-Table", "Fn": "s-Fn"},
    )
    assert build_graph(stack).edge("Fn", "Table") == Edge("Fn", "Table", "")


def test_database_named_by_its_endpoint_is_connected_without_iam():
    stack = SimpleNamespace(
        resources={
            "Db": {"Type": "AWS::RDS::DBCluster", "Properties": {}},
            "FnRole": {"Type": "AWS::IAM::Role", "Properties": {"Policies": []}},
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Role": "arn:aws:iam::123456789012:role/s-FnRole",
                    "Environment": {"Variables": {"HOST": "s-db.cluster-abc.us-east-1.rds.amazonaws.com"}},
                },
            },
        },
        physical_names={"Db": "s-db", "FnRole": "s-FnRole", "Fn": "s-Fn"},
    )
    assert build_graph(stack).edge("Fn", "Db") == Edge("Fn", "Db", "connects")


def test_a_lambda_subscription_is_drawn_with_its_filter_and_its_dead_letter_queue_dashed():
    topic_arn = "arn:aws:sns:us-east-1:123456789012:s-Alerts"
    stack = SimpleNamespace(
        resources={
            "Alerts": {"Type": "AWS::SNS::Topic", "Properties": {}},
            "Undeliverable": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {}},
            "FnAlerts": {
                "Type": "AWS::SNS::Subscription",
                "Properties": {
                    "TopicArn": topic_arn,
                    "Protocol": "lambda",
                    "Endpoint": "arn:aws:lambda:us-east-1:123456789012:function:s-Fn",
                    "FilterPolicy": {"severity": ["high"]},
                    "RedrivePolicy": {
                        "deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:s-Undeliverable"
                    },
                },
            },
        },
        physical_names={
            "Alerts": "s-Alerts",
            "Undeliverable": "s-Undeliverable",
            "Fn": "s-Fn",
            "FnAlerts": "x",
        },
    )
    graph = build_graph(stack)
    assert graph.edge("Alerts", "Fn") == Edge("Alerts", "Fn", "subscription\nseverity: high")
    assert graph.edge("Alerts", "Undeliverable") == Edge(
        "Alerts", "Undeliverable", "undeliverable", dashed=True
    )


def test_mermaid_has_every_edge_with_dashes_for_failures(graph):
    text = to_mermaid(graph)
    assert text.splitlines()[3] == "flowchart LR"
    assert '  kafka_orders -->|"group ingest-group<br/>filter value.kind: OrderPlaced"| Ingest' in text
    assert '  Ingest -.->|"on failure"| Failures' in text
    assert sum(1 for line in text.splitlines() if "-->" in line or "-.->" in line) == len(graph.edges)


def test_dot_quotes_labels_and_dashes_failures(graph):
    text = to_dot(graph)
    assert text.startswith("digraph topology {")
    assert '  "Ingest" -> "Failures" [label="on failure", style=dashed];' in text
    assert '"kafka_orders" -> "Ingest" [label="group ingest-group\\nfilter value.kind: OrderPlaced"];' in text


def test_svg_is_well_formed_and_shows_every_node_label(graph):
    root = ET.fromstring(to_svg(graph))
    texts = {"".join(t.itertext()) for t in root.iter(f"{SVG}text")}
    for node in graph.nodes.values():
        for line in node.label.split("\n"):
            assert line in texts, line
    edge_paths = [
        p for p in root.iter(f"{SVG}path") if p.get("marker-end") and p.find(f"{SVG}title") is not None
    ]
    assert len(edge_paths) == len(graph.edges)
    assert sum(1 for p in edge_paths if p.get("stroke-dasharray")) == sum(e.dashed for e in graph.edges)


def test_svg_puts_sources_left_of_functions_left_of_resources(graph):
    root = ET.fromstring(to_svg(graph))
    centre = {}
    for group in root.iter(f"{SVG}g"):
        if group.get("id"):
            rect = group.find(f"{SVG}rect")
            centre[group.get("id")] = round(float(rect.get("x")) + float(rect.get("width")) / 2)
    assert centre["kafka_orders"] < centre["Ingest"] < centre["Bus"] < centre["Notify"] < centre["Alerts"]
    assert centre["Orders"] == centre["Alerts"] == max(centre.values())  # used, feed nothing: last column


def test_svg_lays_out_a_cycle_and_escapes_text():
    graph = Graph(
        title="loop <&>",
        nodes={
            "fn": Node("fn", "Echo & Co", "function"),
            "bus": Node("bus", "bus", "bus"),
            "rule": Node("rule", 'detail-type: "Echo"', "rule"),
        },
        edges=[
            Edge("fn", "bus", "PutEvents"),
            Edge("bus", "rule"),
            Edge("rule", "fn"),
            Edge("fn", "fn", "self"),
        ],
    )
    root = ET.fromstring(to_svg(graph))
    texts = {"".join(t.itertext()) for t in root.iter(f"{SVG}text")}
    assert {"loop <&>", "Echo & Co", 'detail-type: "Echo"', "PutEvents", "self"} <= texts


def test_pattern_summary_spells_out_operators():
    pattern = {
        "detail": {"total": [{"numeric": [">", 100]}], "coupon": [{"exists": False}]},
        "source": [{"prefix": "shop."}],
        "detail-type": [{"anything-but": ["Test", "Debug"]}],
    }
    assert summarise_pattern(pattern, prefer=("detail-type",), lines=4).split("\n") == [
        "detail-type: not Test | Debug",
        "detail.total: > 100",
        "detail.coupon: absent",
        "source: prefix shop.",
    ]


def test_pattern_summary_keeps_to_its_lines_and_says_how_many_more():
    summary = summarise_pattern({"a": ["1"], "b": ["2"], "c": ["3"]}, lines=2)
    assert summary == "a: 1\nb: 2 (+1 more)"


def test_cli_writes_svg_when_the_output_ends_in_svg(template_path, tmp_path):
    out = tmp_path / "topology.svg"
    assert main(["graph", "--template", str(template_path), "-o", str(out)]) == 0
    root = ET.parse(out).getroot()
    assert root.tag == f"{SVG}svg"


def test_cli_prints_mermaid_by_default(template_path, capsys):
    assert main(["graph", "-t", str(template_path), "--title", "Shop"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("---\ntitle: Shop\n---\nflowchart LR\n")


def test_cli_reports_a_missing_template_as_a_usage_error(tmp_path, capsys):
    assert main(["graph", "-t", str(tmp_path / "missing.yaml")]) == 2
    assert "localfaas graph: error:" in capsys.readouterr().err


def test_default_title_is_the_head_of_the_description_and_the_file_name(tmp_path):
    from localfaas.commands.graph import default_title

    template = tmp_path / "checkout-anywhere" / "template.yaml"
    described = {"Description": "Shop on events: the back office.\nMore words."}

    assert default_title(described, template) == "Shop on events: template.yaml"
    assert default_title({"Description": "A shop. It sells."}, template) == "A shop: template.yaml"
    assert default_title({}, template) == "checkout-anywhere: template.yaml"


def test_cli_reports_an_unwritable_output_as_a_usage_error(template_path, tmp_path, capsys):
    assert main(["graph", "-t", str(template_path), "-o", str(tmp_path / "no-such-dir" / "t.svg")]) == 2
    assert capsys.readouterr().err.strip().endswith("t.svg: No such file or directory")
