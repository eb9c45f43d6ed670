"""From any folder of a project, `produce`, `put-events` and `invoke` reach the project's state
folder (.localfaas, found upward as git finds .git); `produce` warns of a topic no mapping reads."""

from __future__ import annotations

import json
import stat

import pytest

from infra.localfaas.tests.sam_app import write_app
from localfaas.cli import main
from localfaas.commands._options import find_state_dir
from localfaas.embedded_log import EmbeddedLog
from localfaas.events_api import EventsApi

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Parameters:
  OrdersTopic: {Type: String, Default: orders}
Resources:
  TakeOrder:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      CodeUri: src/
      Handler: app.handler
      Events:
        Orders:
          Type: MSK
          Properties:
            Stream: arn:aws:kafka:us-east-1:123456789012:cluster/shop/abcd1234-abcd-cafe-abab-9876543210ab-4
            Topics: [!Ref OrdersTopic]
            StartingPosition: TRIM_HORIZON
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project whose `up` has run (its state folder exists), the shell in a subdirectory of it."""
    write_app(tmp_path, TEMPLATE, {"src/app.py": "def handler(event, context):\n    return event\n"})
    (tmp_path / ".localfaas").mkdir()
    subdirectory = tmp_path / "src" / "deeper"
    subdirectory.mkdir(parents=True)
    monkeypatch.chdir(subdirectory)
    return tmp_path


def test_the_state_folder_is_found_upward_else_made_here(project, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("no-project")

    assert find_state_dir() == project / ".localfaas"
    assert find_state_dir(elsewhere) == elsewhere / ".localfaas"


def test_produce_from_a_subdirectory_appends_to_the_project_s_log(project, capsys):
    code = main(["produce", "orders", "--key", "o-1", "--value", '{"orderId": "o-1"}'])

    assert code == 0 and capsys.readouterr().err == ""
    log = EmbeddedLog(project / ".localfaas" / "log")
    try:
        assert [r.key for r in log.read("orders", 0, 0, 10)] == [b"o-1"]
    finally:
        log.close()
    assert not (project / "src" / "deeper" / ".localfaas").exists()


def test_a_topic_no_mapping_reads_is_warned_of_and_produced(project, capsys):
    code = main(["produce", "ordres", "--key", "o-1", "--value", "{}"])

    out, err = capsys.readouterr()
    assert code == 0 and json.loads(out)["topic"] == "ordres"
    assert err.splitlines() == [
        "localfaas produce: warning: no event source mapping of the template reads topic 'ordres' "
        "(they read: orders); producing it anyway"
    ]


def test_produce_uses_the_running_up_s_log_and_topics(project, tmp_path_factory, capsys):
    up_log = tmp_path_factory.mktemp("up-log")
    endpoints = {"events": "http://127.0.0.1:9", "logDir": str(up_log), "topics": ["payments"]}
    (project / ".localfaas" / "endpoints.json").write_text(json.dumps(endpoints))

    assert main(["produce", "payments", "--key", "p-1", "--value", "{}"]) == 0

    assert capsys.readouterr().err == ""  # `up`'s topics, not the template's, say what is read
    log = EmbeddedLog(up_log)
    try:
        assert [r.key for r in log.read("payments", 0, 0, 10)] == [b"p-1"]
    finally:
        log.close()


def test_put_events_from_a_subdirectory_reaches_the_running_up(project, capsys):
    received = []

    def put_events(entries):
        received.extend(entries)
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"} for _ in entries]}

    with EventsApi(put_events) as api:
        (project / ".localfaas" / "endpoints.json").write_text(json.dumps({"events": api.endpoint_url}))
        code = main(
            ["put-events", "--entries", '[{"Source": "shop", "DetailType": "Hello", "Detail": "{}"}]']
        )

    assert code == 0 and [e["Source"] for e in received] == ["shop"]


def test_invoke_from_a_subdirectory_finds_the_project_s_template(project, capsys):
    code = main(["invoke", "TakeOrder", "--runtime", "in-process", "--endpoint-url", "http://127.0.0.1:9"])

    assert (code, json.loads(capsys.readouterr().out)) == (0, {})


def test_the_state_folder_produce_creates_is_owner_only(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no project here: the state folder is made in this folder

    assert main(["produce", "orders", "--key", "o-1", "--value", "{}"]) == 0

    assert stat.S_IMODE((tmp_path / ".localfaas").stat().st_mode) == 0o700
