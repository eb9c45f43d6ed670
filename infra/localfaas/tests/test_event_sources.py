"""The contract between the stack and its other event sources (localfaas.event_sources): a kind that
registers a factory is built from the template, polled until caught up, reported in `esm` and counted
in the verdict; a mapping no kind runs is named once with its AWS page."""

from __future__ import annotations

from typing import Any

import pytest

from infra.localfaas.tests.sam_app import write_app
from localfaas import event_sources
from localfaas.esm import PollReport
from localfaas.local_stack import LocalStack
from localfaas.report import source_summary

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Shipments:
    Type: AWS::Kinesis::Stream
    Properties: {ShardCount: 1}
  Take:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      CodeUri: src/
      Handler: app.handler
      Events:
        FromShipments:
          Type: Kinesis
          Properties:
            Stream: !GetAtt Shipments.Arn
            StartingPosition: TRIM_HORIZON
"""

APP = """\
def handler(event, context):
    if event.get("poison"):
        raise ValueError("a poison item")
    return len(event["items"])
"""


class ThreeItems:
    """A source that has three items for its function, delivers one a poll, and loses a poison one."""

    def __init__(self, logical_id: str, function_name: str, invoke: Any, items: list[dict]) -> None:
        self.logical_id, self.function_name = logical_id, function_name
        self.stats = PollReport()
        self._invoke, self._items = invoke, list(items)
        self.closed = False
        self.poison = sum(1 for item in items if item.get("poison"))

    def poll_once(self, *, flush: bool = False) -> PollReport:
        report = PollReport()
        if self._items:
            item = self._items.pop(0)
            result = self._invoke(self.function_name, item)
            report.invocations = 1
            if result.error:
                report.records_discarded = 1
            else:
                report.records_delivered = 1
        self.stats.add(report)
        return report

    def caught_up(self) -> bool:
        return not self._items

    def idle_rounds(self) -> int:
        return 1

    def summary(self, function: str, lost: list[str], *, stopped: bool) -> dict[str, Any]:
        return source_summary(self.logical_id, function, "shipments", self.stats, 3 + self.poison, lost)

    def close(self) -> None:
        self.closed = True


class KinesisKind:
    """A kind registered for the template's Kinesis mapping, with the items its source will hold."""

    def __init__(self) -> None:
        self.items: list[dict] = [{"items": [1]}, {"items": [1, 2]}, {"items": [1, 2, 3]}]
        self.built: list[ThreeItems] = []

    def factory(self, resource, services):
        if ":kinesis:" not in str(resource.properties.get("EventSourceArn", "")):
            return None
        function = services.template.function(str(resource.properties["FunctionName"]))
        source = ThreeItems(resource.logical_id, function.function_name, services.invoke, self.items)
        self.built.append(source)
        return source


@pytest.fixture
def kinesis_kind(monkeypatch) -> KinesisKind:
    """For this test only, the registry holds this kind and nothing else."""
    kind = KinesisKind()
    monkeypatch.setattr(event_sources, "_FACTORIES", {"AWS::Lambda::EventSourceMapping": [kind.factory]})
    monkeypatch.setattr(event_sources, "_import_kinds", lambda: None)
    return kind


def test_a_mapping_no_kind_runs_is_named_with_its_aws_page(tmp_path, monkeypatch):
    monkeypatch.setattr(event_sources, "_FACTORIES", {})
    monkeypatch.setattr(event_sources, "_import_kinds", lambda: None)
    template = write_app(tmp_path, TEMPLATE, {"src/app.py": APP})
    with LocalStack(template) as stack:
        warnings = [w for w in stack.warnings if "TakeFromShipments" in w]
    assert warnings == [
        "TakeFromShipments: kinesis event source mapping is not run by localfaas "
        "(https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html); skipped"
    ]


def test_a_registered_kind_is_polled_until_caught_up_and_reported(tmp_path, kinesis_kind):
    template = write_app(tmp_path, TEMPLATE, {"src/app.py": APP})
    with LocalStack(template) as stack:
        assert stack.run_until_idle()
        report = stack.report()
        assert not [w for w in stack.warnings if "TakeFromShipments" in w]
    (source,) = kinesis_kind.built
    assert source.closed
    row = report.data["esm"]["TakeFromShipments"]
    assert (row["function"], row["topic"], row["records"], row["delivered"]) == ("Take", "shipments", 3, 3)
    assert (row["lost"], row["invocations"]) == (0, 3)
    assert report.data["functions"]["Take"]["invocations"] == 3
    assert report.data["lost"]["total"] == 0
    assert report.render().rstrip().endswith("NOTHING LOST")


def test_what_a_source_loses_is_in_the_verdict(tmp_path, kinesis_kind):
    kinesis_kind.items.append({"poison": True, "items": []})
    template = write_app(tmp_path, TEMPLATE, {"src/app.py": APP})
    with LocalStack(template) as stack:
        assert stack.run_until_idle()
        report = stack.report()
    assert report.data["lost"] == {
        "total": 1,
        "details": ["TakeFromShipments: 1 record(s) discarded (no on-failure destination)"],
    }
    assert "LOST: 1" in report.render()


def test_a_sources_counts_survive_a_restart_on_its_state_folder(tmp_path, kinesis_kind):
    template = write_app(tmp_path, TEMPLATE, {"src/app.py": APP})
    with LocalStack(template, state_dir=tmp_path / "state") as stack:
        stack.run_until_idle()
    kinesis_kind.items[:] = []  # the restarted source has nothing new
    with LocalStack(template, state_dir=tmp_path / "state") as stack:
        stack.run_until_idle()
        report = stack.report()
    assert report.data["esm"]["TakeFromShipments"]["delivered"] == 3
