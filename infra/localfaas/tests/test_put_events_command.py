"""`localfaas put-events`: entries inline, from a file or stdin, sent to an events endpoint."""

from __future__ import annotations

import io
import json

import pytest

from localfaas.cli import main
from localfaas.events_api import EventsApi


@pytest.fixture
def received():
    return []


@pytest.fixture
def endpoint(received):
    def put_events(entries):
        received.extend(entries)
        return {"FailedEntryCount": 0, "Entries": [{"EventId": f"e{i}"} for i, _ in enumerate(entries)]}

    with EventsApi(put_events) as api:
        yield api.endpoint_url


def long_entries() -> list[dict]:
    detail = {"orderId": "o-1", "note": "x" * 400}
    return [{"Source": "shop.orders", "DetailType": "OrderTaken", "Detail": detail}]


def put(endpoint: str, entries: str) -> int:
    return main(["put-events", "--endpoint-url", endpoint, "--entries", entries])


def test_inline_json_longer_than_a_file_name_is_sent(endpoint, received, capsys):
    text = json.dumps(long_entries())
    assert len(text) > 255
    assert put(endpoint, text) == 0
    assert json.loads(capsys.readouterr().out)["FailedEntryCount"] == 0
    assert json.loads(received[0]["Detail"])["note"] == "x" * 400


def test_inline_json_with_leading_space_is_not_taken_for_a_path(endpoint, received):
    assert put(endpoint, "  " + json.dumps({"Entries": long_entries()})) == 0
    assert len(received) == 1


def test_entries_are_read_from_a_file_and_a_plain_path(endpoint, received, tmp_path):
    path = tmp_path / "entries.json"
    path.write_text(json.dumps(long_entries()))
    assert put(endpoint, f"file://{path}") == 0
    assert put(endpoint, str(path)) == 0
    assert len(received) == 2


def test_entries_are_read_from_stdin(endpoint, received, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(long_entries())))
    assert put(endpoint, "-") == 0
    assert len(received) == 1


def test_a_long_name_that_is_neither_json_nor_a_file_is_one_line(endpoint, capsys):
    assert put(endpoint, "n" * 300) == 2
    err = capsys.readouterr().err
    assert "--entries is not valid JSON" in err
    assert len(err.strip().splitlines()) == 1
