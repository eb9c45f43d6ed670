"""Ctrl-C during `localfaas run`: no traceback, the report of what ran so far, verdict INTERRUPTED,
exit 130. The interrupt is raised by a handler, in the middle of the run, as SIGINT raises
KeyboardInterrupt in whatever the main thread runs then; no timing involved."""

from __future__ import annotations

import json

from infra.localfaas.tests.sam_app import write_app
from localfaas.cli import main

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {Runtime: python3.11, Handler: app.handler, CodeUri: src/}
Resources:
  Count:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Orders:
          Type: MSK
          Properties:
            Stream: arn:aws:kafka:us-east-1:123456789012:cluster/shop/abcd1234-abcd-cafe-abab-9876543210ab-4
            Topics: [orders]
            StartingPosition: TRIM_HORIZON
  Stop:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.interrupt
      Events:
        Alarms:
          Type: MSK
          Properties:
            Stream: arn:aws:kafka:us-east-1:123456789012:cluster/shop/abcd1234-abcd-cafe-abab-9876543210ab-4
            Topics: [alarms]
            StartingPosition: TRIM_HORIZON
"""

APP = """\
def handler(event, context):
    return {}


def interrupt(event, context):
    raise KeyboardInterrupt  # what Ctrl-C raises in the main thread
"""


def record(topic, key, hour):
    return {"topic": topic, "key": key, "value": {"id": key}, "timestamp": f"2026-11-25T{hour:02d}:00:00Z"}


def test_ctrl_c_prints_the_report_so_far_and_exits_130(tmp_path, capsys):
    write_app(tmp_path, TEMPLATE, {"src/app.py": APP})
    scenario = tmp_path / "scenario.json"
    scenario.write_text(
        json.dumps(
            {
                "name": "interrupted day",
                "template": "template.yaml",
                "windowSeconds": 3600,  # the orders at 08:00 run to the end before the alarm at 10:00
                "records": [
                    record("orders", "o-1", 8),
                    record("orders", "o-2", 8),
                    record("alarms", "a-1", 10),
                ],
                "checks": [{"metric": "esm.delivered[CountOrders]", "equals": 2}],
            }
        )
    )

    code = main(["run", "--scenario", str(scenario), "--json", str(tmp_path / "report.json")])
    out, err = capsys.readouterr()

    report = json.loads((tmp_path / "report.json").read_text())
    assert code == 130
    assert "Traceback" not in out + err
    assert report["run"]["interrupted"] is True
    assert report["esm"]["CountOrders"]["delivered"] == 2  # what ran before Ctrl-C is in the report
    assert report["checks"] == []
    assert "interrupted after" in out.splitlines()[1]
    assert out.splitlines()[-1] == (
        "INTERRUPTED: what ran before Ctrl-C; 1 record(s) not yet settled, checks not evaluated"
    )


def test_ctrl_c_elsewhere_is_one_line_and_exit_130(tmp_path, capsys, monkeypatch):
    import localfaas.commands.graph as graph

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(graph, "template_parameters", interrupted)
    code = main(["graph", "--template", str(write_app(tmp_path, TEMPLATE))])

    assert (code, capsys.readouterr().err) == (130, "localfaas graph: interrupted\n")


def test_progress_says_its_total_is_records_times_the_mappings_reading_them():
    import io

    from localfaas.commands.run import Progress

    stream = io.StringIO()
    progress = Progress(stream)
    progress.update(90, 4896)
    progress.done()

    assert (
        stream.getvalue() == "settled 90/4896 record deliveries (records x the mappings reading them) (1%)\n"
    )
