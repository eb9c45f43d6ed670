"""Schedules through `localfaas run`: a scenario's `start` and `until` are the run's span, the
schedules fire their moments inside it in virtual time, `--until` moves its end, and a span that
cannot be read is a one-line usage error. The app: a generic ScheduleV2 in Europe/Paris over the day
its clocks go forward (23 hourly moments; "Daylight saving time", "Schedule types in EventBridge
Scheduler", https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.localfaas.tests.sam_app import write_app
from localfaas.cli import main
from localfaas.scenario import ScenarioError, load_scenario, span_end

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Meter:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      CodeUri: src/
      Handler: app.handler
      Events:
        Hourly:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: cron(0 * * * ? *)
            ScheduleExpressionTimezone: Europe/Paris
            Input: '{"reading": "<aws.scheduler.scheduled-time>"}'
"""

APP = """\
def handler(event, context):
    return event["reading"]
"""


def write_scenario(tmp_path: Path, **fields) -> Path:
    write_app(tmp_path, TEMPLATE, {"src/app.py": APP})
    scenario = {
        "name": "a-day-of-meter-readings",
        "template": "template.yaml",
        "start": "2024-03-31T00:00:00+01:00",
        "until": "2024-03-31T23:59:00+02:00",
        "checks": [{"name": "a reading an hour", "metric": "functions.invocations[Meter]", "equals": 23}],
        **fields,
    }
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(scenario))
    return path


def test_run_fires_a_day_of_schedules_in_the_scenarios_span(tmp_path, capsys):
    scenario = write_scenario(tmp_path)
    report_path = tmp_path / "report.json"
    assert main(["run", "--scenario", str(scenario), "--json", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    row = report["esm"]["MeterHourly"]
    assert (row["records"], row["delivered"], row["lost"]) == (23, 23, 0)
    assert report["functions"]["Meter"]["invocations"] == 23
    assert report["checks"][0]["ok"]
    assert "NOTHING LOST" in capsys.readouterr().out


def test_until_on_the_command_line_ends_the_span_earlier(tmp_path):
    scenario = write_scenario(tmp_path, checks=[])
    report_path = tmp_path / "report.json"
    # 00:00, 01:00, 03:00 (02:00 does not exist that day) and 04:00 Paris time.
    until = "2024-03-31T04:00:00+02:00"
    assert main(["run", "--scenario", str(scenario), "--until", until, "--json", str(report_path)]) == 0
    assert json.loads(report_path.read_text())["functions"]["Meter"]["invocations"] == 4


def test_an_unreadable_until_is_a_one_line_usage_error(tmp_path, capsys):
    scenario = write_scenario(tmp_path)
    assert main(["run", "--scenario", str(scenario), "--until", "tomorrow"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("localfaas run: error: --until:") and "\n" not in err


def test_a_scenarios_start_and_until_are_read_and_named_when_wrong(tmp_path):
    scenario = load_scenario(write_scenario(tmp_path))
    assert scenario.start_ms == 1_711_839_600_000
    assert span_end(scenario, scenario.start_ms / 1000) == scenario.until_ms / 1000
    with pytest.raises(ScenarioError, match="until"):
        load_scenario(write_scenario(tmp_path, until="noon"))


def test_without_until_the_span_ends_at_the_last_record_or_event(tmp_path):
    events = [{"Source": "s", "DetailType": "d", "Detail": {}, "Time": "2024-03-31T06:30:00Z"}]
    scenario = load_scenario(write_scenario(tmp_path, until=None, events=events))
    assert span_end(scenario, 0.0) == 1_711_866_600
    assert span_end(scenario, 0.0, 5.0) == 5.0  # --until wins


MIXED = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.11
    CodeUri: src/
    Environment:
      Variables: {TRACE: ''}
Resources:
  Orders:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.order
      Events:
        Placed:
          Type: MSK
          Properties:
            Stream: arn:aws:kafka:us-east-1:123456789012:cluster/shop/abcd1234-abcd-cafe-abab-9876543210ab-4
            Topics: [orders]
            StartingPosition: TRIM_HORIZON
  Clock:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.tick
      Events:
        Hourly:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: rate(1 hour)
            Input: '{"at": "<aws.scheduler.scheduled-time>"}'
"""

MIXED_APP = """\
import base64, json, os


def write(line):
    with open(os.environ["TRACE"], "a") as trace:
        trace.write(line + "\\n")


def order(event, context):
    for records in event["records"].values():
        for record in records:
            write("order " + json.loads(base64.b64decode(record["value"]))["at"])


def tick(event, context):
    write("tick " + event["at"])
"""


def test_schedules_and_released_records_keep_one_timeline(tmp_path):
    """With windowSeconds, schedules fire up to each slice's release and no further, so what happens
    at 03:00 runs before a record stamped 05:30 is released, as a live stack would run them."""
    write_app(tmp_path, MIXED, {"src/app.py": MIXED_APP})
    trace = tmp_path / "trace.jsonl"
    stamps = ["2024-06-03T00:00:00Z", "2024-06-03T02:30:00Z", "2024-06-03T05:30:00Z"]
    scenario = {
        "template": "template.yaml",
        "environment": {"Parameters": {"TRACE": str(trace)}},
        "windowSeconds": 60,
        "until": "2024-06-03T06:00:00Z",
        "records": [{"topic": "orders", "key": "o", "value": {"at": at}, "timestamp": at} for at in stamps],
    }
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(scenario))
    assert main(["run", "--scenario", str(path)]) == 0
    lines = trace.read_text().split("\n")[:-1]
    moments = [line.split(" ", 1)[1] for line in lines]
    assert moments == sorted(moments)  # one timeline: nothing ran ahead of a record still unreleased
    assert [line for line in lines if line.startswith("tick")] == [
        f"tick 2024-06-03T0{hour}:00:00Z" for hour in range(7)
    ]
